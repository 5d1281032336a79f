"""jaforge's k-shot choice scoring side by side with lm-evaluation-harness (`--model hf`).

    python benchmarks/eval.py [--quick] [--rounds 3] [--shots 3] [--threads 1] [--peer-batches 8 1]

Input: JNLI in the official JGLUE layout (jaforge's embedded samples: 114 validation examples,
57 train examples for the shots), the EleutherAI japanese_leaderboard prompt, 3 shots drawn with
lm-eval's default seed. Model: a random ~0.4M-parameter Llama (d_model 64, 4 layers, vocab 2,048)
with a byte-level BPE trained on the embedded Japanese corpus, saved as a Hugging Face directory
(built here with jaforge.eval.parity.build_tiny_llama); the prompts' token counts are reported
(about 255 tokens), no truncation. Both tools read the same directory and the same JSON-lines
files; lm-eval gets a task YAML (dataset_path: json) generated from jaforge's template
(jaforge.eval.parity.lm_eval_task).

Same answers first: for every lm-eval batch size measured, every example's prompt, per-choice
log-likelihoods (within 1e-4) and prediction must agree with jaforge's, else the run fails. Then
alternating runs (the order rotates every round), each in a fresh worker process, time
everything after the imports: model and tokenizer load, task and few-shot prompt construction,
scoring, metrics. lm-eval runs with batch_size 8 and with 1 (its default; `--peer-batches`
changes them); jaforge with its default batch_size 16
(`--batch-size`). ratio = lm-eval seconds / jaforge seconds of the same round; examples/s of
each. The machine's load average is recorded before and after the timed runs.

Writes benchmarks/results/eval.json; the last line of output is the JSON summary (ratio_* against
the first peer batch size, `ratios` against each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "eval.json"
TASK, TEMPLATE = "jnli", "leaderboard"


def prepare(work: Path, quick: bool = False) -> Path:
    """The benchmark model: a random Llama + byte-level BPE, as a Hugging Face directory."""
    from jaforge import data
    from jaforge.eval.parity import build_tiny_llama
    from jaforge.eval.tasks import TASKS, load_docs
    from jaforge.eval.templates import get_template

    tpl = get_template(TEMPLATE, TASK)
    docs = load_docs(TASKS.get(TASK), "train") + load_docs(TASKS.get(TASK), "valid")
    texts = data.japanese_clean() + [tpl.description + tpl.text(d) for d in docs]
    texts = [t if isinstance(t, str) else t.get("text", "") for t in texts]
    return build_tiny_llama(work / "model", texts, vocab_size=512 if quick else 2048,
                            max_length=2048, d_model=64, n_layer=4)


def worker(args: argparse.Namespace) -> None:
    """One timed run of one tool; prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    # heavy imports before the clock, alike for both tools: transformers' Llama and AutoModel
    import transformers
    from transformers.models.llama import modeling_llama  # noqa: F401

    transformers.AutoModelForCausalLM, transformers.AutoTokenizer  # noqa: B018  (resolve lazily-loaded names)
    if args.worker == "lm-eval":
        from jaforge.eval.parity import import_lm_eval

        import_lm_eval()
        from jaforge.eval.parity import run_lm_eval as run_tool
        extra = {"work_dir": args.work, "batch_size": args.tool_batch}
    else:
        from jaforge.eval.backends import load_backend  # noqa: F401  (imports before the clock)
        from jaforge.eval.parity import run_jaforge as run_tool
        extra = {"batch_size": args.tool_batch}
    start = time.perf_counter()
    rows = run_tool(args.model, TASK, TEMPLATE, args.shots, limit=args.limit, **extra)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "examples": len(rows), "max_rss_mb": peak_rss_mb(),
                      "rows": rows if args.keep_rows else None}, ensure_ascii=False))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tool_names(args: argparse.Namespace) -> list[str]:
    """jaforge, then lm-eval at each batch size: 'lm-eval (batch 8)', …"""
    return ["jaforge"] + [f"lm-eval (batch {b})" for b in args.peer_batches]


def timed_run(tool: str, model: Path, work: Path, args: argparse.Namespace, keep_rows: bool = False) -> dict:
    """One fresh worker process running `tool` (a name from `tool_names`)."""
    name, batch = ("jaforge", args.batch_size) if tool == "jaforge" else \
        ("lm-eval", int(tool.rsplit(" ", 1)[1].rstrip(")")))
    command = [sys.executable, __file__, "--worker", name, "--model", str(model), "--work", str(work),
               "--shots", str(args.shots), "--threads", str(args.threads), "--tool-batch", str(batch)]
    command += ["--limit", str(args.limit)] if args.limit else []
    command += ["--keep-rows"] if keep_rows else []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_answers(model: Path, work: Path, args: argparse.Namespace) -> dict:
    """jaforge's rows against lm-eval's at every peer batch size (prompts, log-likelihoods,
    predictions); `ok` only when all agree."""
    from jaforge.eval.parity import compare

    ours = timed_run("jaforge", model, work, args, keep_rows=True)["rows"]
    reports = {}
    for peer in tool_names(args)[1:]:
        report = compare(ours, timed_run(peer, model, work, args, keep_rows=True)["rows"])
        report["ok"] = (not report["prompt_mismatches"] and report["same_predictions"]
                        and report["max_abs_diff"] < 1e-4)
        reports[peer] = report
    return {"ok": all(r["ok"] for r in reports.values()), "examples": len(ours),
            "max_abs_diff": max(r["max_abs_diff"] for r in reports.values()),
            "same_predictions": all(r["same_predictions"] for r in reports.values()), "peers": reports}



def prompt_tokens(model: Path, args: argparse.Namespace) -> dict[str, float]:
    """Token counts of the benchmark's prompts (context of every example)."""
    from jaforge.eval.backends import TextTokenizer
    from jaforge.eval.tasks import TASKS, build_prompts, load_docs

    task = TASKS.get(TASK)
    prompts = build_prompts(task, load_docs(task, "valid")[:args.limit], load_docs(task, "train"),
                            TEMPLATE, args.shots)
    lengths = [len(ids) for ids in TextTokenizer(model).encode_batch([p.context for p in prompts])]
    return {"mean": round(statistics.mean(lengths), 1), "min": min(lengths), "max": max(lengths)}


def machine(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "threads_per_run": threads,
            "torch": torch.__version__, "transformers": transformers.__version__}


def timed_rounds(model: Path, work: Path, args: argparse.Namespace) -> dict[str, list[dict]]:
    """`args.rounds` rounds of one run per tool, the order rotating every round."""
    tools = tool_names(args)
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    for r in range(args.rounds):
        for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
            runs[tool].append(timed_run(tool, model, work, args))
    return runs


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    from importlib.metadata import version

    model = prepare(work, args.quick)
    check = same_answers(model, work, args)
    if not check["ok"]:
        raise SystemExit(f"jaforge and lm-eval disagree; not timing: {json.dumps(check)}")
    load_before = os.getloadavg()
    runs = timed_rounds(model, work, args)
    load_after = os.getloadavg()
    seconds = {tool: [run["seconds"] for run in rs] for tool, rs in runs.items()}
    examples = runs["jaforge"][0]["examples"]
    peers = tool_names(args)[1:]
    stats = {peer: ratio_stats(seconds[peer], seconds["jaforge"]) for peer in peers}
    n_params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                   .from_pretrained(str(model)).parameters())
    main_stats = stats[peers[0]]
    return {
        "benchmark": "eval", "peer": f"lm-eval {version('lm_eval')}", "same_answers": True,
        "ratio_median": round(main_stats["median"], 2), "ratio_min": round(main_stats["min"], 2),
        "ratio_max": round(main_stats["max"], 2),
        "ratios": {peer: round(st["median"], 2) for peer, st in stats.items()},
        "ratio_ranges": {peer: [round(st["min"], 2), round(st["max"], 2)] for peer, st in stats.items()},
        "inputs": {"task": TASK, "template": TEMPLATE, "shots": args.shots, "examples": examples,
                   "prompt_tokens": prompt_tokens(model, args), "model_params": n_params,
                   "jaforge_batch_size": args.batch_size, "peer_batch_sizes": args.peer_batches},
        "examples_per_s": {tool: round(statistics.median(examples / s for s in secs), 2)
                           for tool, secs in seconds.items()},
        "seconds": {tool: [round(s, 3) for s in secs] for tool, secs in seconds.items()},
        "max_rss_mb": {tool: max(r["max_rss_mb"] for r in rs) for tool, rs in runs.items()},
        "parity": {"examples": check["examples"], "same_predictions": check["same_predictions"],
                   "max_abs_diff": {peer: r["max_abs_diff"] for peer, r in check["peers"].items()}},
        "machine": {**machine(args.threads), "load_average_before": load_before,
                    "load_average_after": load_after},
    }


def print_table(summary: dict) -> None:
    width = max(len(tool) for tool in summary["seconds"]) + 2
    print(f"{'tool':<{width}}{'examples/s':>11}{'ratio':>8}  seconds per run")
    for tool, secs in summary["seconds"].items():
        ratio = f"{summary['ratios'][tool]:.2f}x" if tool in summary["ratios"] else "-"
        print(f"{tool:<{width}}{summary['examples_per_s'][tool]:>11}{ratio:>8}  {secs}")
    machine = summary["machine"]
    print(f"load average (1, 5, 15 min) before {[round(x, 2) for x in machine['load_average_before']]}, "
          f"after {[round(x, 2) for x in machine['load_average_after']]}; {machine['nproc']} cores, "
          f"{machine['threads_per_run']} thread per run; prompts {summary['inputs']['prompt_tokens']} tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 examples, small vocabulary, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16, help="jaforge's batch_size")
    parser.add_argument("--peer-batches", type=int, nargs="+", default=[8, 1],
                        help="lm-eval batch_size values measured (the first one gives ratio_*)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--worker", choices=("jaforge", "lm-eval"), help=argparse.SUPPRESS)
    parser.add_argument("--tool-batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--keep-rows", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.rounds, args.limit = 1, args.limit or 30
    with tempfile.TemporaryDirectory() as tmp:
        summary = benchmark(args, Path(tmp))
    print_table(summary)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps({k: summary[k] for k in ("benchmark", "peer", "same_answers", "ratio_median",
                                              "ratio_min", "ratio_max", "ratios", "inputs")},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
