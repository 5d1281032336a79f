"""jaforge's k-shot choice scoring side by side with lm-evaluation-harness (`--model hf`).

    python benchmarks/eval.py [--quick] [--rounds 3] [--shots 3] [--threads 1]

Input: JNLI in the official JGLUE layout (jaforge's embedded samples: 114 validation examples,
57 train examples for the shots), the EleutherAI japanese_leaderboard prompt, 3 shots drawn with
lm-eval's default seed. Model: a random ~0.6M-parameter Llama (d_model 64, 4 layers, vocab 2,048)
with a byte-level BPE trained on the embedded Japanese corpus, saved as a Hugging Face directory
(built here with jaforge.eval.parity.build_tiny_llama); prompts are ~600 tokens, no truncation.
Both tools read the same directory and the same JSON-lines files; lm-eval gets a task YAML
(dataset_path: json) generated from jaforge's template (jaforge.eval.parity.lm_eval_task).

Same answers first: every example's prompt, per-choice log-likelihoods (within 1e-4) and
prediction must agree, else the run fails. Then alternating runs (A B, B A, …), each in a fresh
worker process, time everything after the imports: model and tokenizer load, task and few-shot
prompt construction, scoring, metrics. lm-eval runs with its documented `batch_size` (8 here;
`--peer-batch` changes it). ratio = lm-eval seconds / jaforge seconds; examples/s of each.

Writes benchmarks/results/eval.json; the last line of output is the JSON summary.
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
        extra = {"work_dir": args.work, "batch_size": args.peer_batch}
    else:
        from jaforge.eval.backends import load_backend  # noqa: F401  (imports before the clock)
        from jaforge.eval.parity import run_jaforge as run_tool
        extra = {}
    start = time.perf_counter()
    rows = run_tool(args.model, TASK, TEMPLATE, args.shots, limit=args.limit, **extra)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "examples": len(rows), "max_rss_mb": peak_rss_mb(),
                      "rows": rows if args.keep_rows else None}, ensure_ascii=False))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(tool: str, model: Path, work: Path, args: argparse.Namespace, keep_rows: bool = False) -> dict:
    command = [sys.executable, __file__, "--worker", tool, "--model", str(model), "--work", str(work),
               "--shots", str(args.shots), "--threads", str(args.threads),
               "--peer-batch", str(args.peer_batch)]
    command += ["--limit", str(args.limit)] if args.limit else []
    command += ["--keep-rows"] if keep_rows else []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_answers(model: Path, work: Path, args: argparse.Namespace) -> dict:
    """Both tools' rows on the same input, compared (prompts, log-likelihoods, predictions)."""
    from jaforge.eval.parity import compare

    ours = timed_run("jaforge", model, work, args, keep_rows=True)["rows"]
    theirs = timed_run("lm-eval", model, work, args, keep_rows=True)["rows"]
    report = compare(ours, theirs)
    report["ok"] = (not report["prompt_mismatches"] and report["same_predictions"]
                    and report["max_abs_diff"] < 1e-4)
    return report


def ratio_stats(peer: list[float], ours: list[float]) -> dict[str, float]:
    ratios = [p / o for p, o in zip(peer, ours)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def machine(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "threads_per_run": threads,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "load_average": os.getloadavg()}


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    from importlib.metadata import version

    model = prepare(work, args.quick)
    check = same_answers(model, work, args)
    if not check["ok"]:
        raise SystemExit(f"jaforge and lm-eval disagree; not timing: {json.dumps(check)}")
    runs: dict[str, list[dict]] = {"jaforge": [], "lm-eval": []}
    for r in range(args.rounds):
        order = ("jaforge", "lm-eval") if r % 2 == 0 else ("lm-eval", "jaforge")
        for tool in order:
            runs[tool].append(timed_run(tool, model, work, args))
    seconds = {tool: [run["seconds"] for run in rs] for tool, rs in runs.items()}
    examples = runs["jaforge"][0]["examples"]
    stats = ratio_stats(seconds["lm-eval"], seconds["jaforge"])
    n_params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                   .from_pretrained(str(model)).parameters())
    return {
        "benchmark": "eval", "peer": f"lm-eval {version('lm_eval')}", "same_answers": True,
        "ratio_median": round(stats["median"], 2), "ratio_min": round(stats["min"], 2),
        "ratio_max": round(stats["max"], 2),
        "inputs": {"task": TASK, "template": TEMPLATE, "shots": args.shots, "examples": examples,
                   "model_params": n_params, "peer_batch_size": args.peer_batch},
        "examples_per_s": {tool: round(statistics.median(examples / s for s in secs), 2)
                           for tool, secs in seconds.items()},
        "seconds": {tool: [round(s, 3) for s in secs] for tool, secs in seconds.items()},
        "max_rss_mb": {tool: max(r["max_rss_mb"] for r in rs) for tool, rs in runs.items()},
        "parity": {k: check[k] for k in ("examples", "max_abs_diff", "same_predictions")},
        "machine": machine(args.threads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 examples, small vocabulary, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--peer-batch", type=int, default=8, help="lm-eval's batch_size")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--worker", choices=("jaforge", "lm-eval"), help=argparse.SUPPRESS)
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
    print(f"{'tool':<10}{'examples/s':>12}  seconds per run")
    for tool in ("jaforge", "lm-eval"):
        print(f"{tool:<10}{summary['examples_per_s'][tool]:>12}  {summary['seconds'][tool]}")
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps({k: summary[k] for k in ("benchmark", "peer", "same_answers", "ratio_median",
                                              "ratio_min", "ratio_max", "inputs")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
