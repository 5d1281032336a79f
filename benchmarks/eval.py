"""jaforge's eval stage side by side with lm-evaluation-harness (`--model hf`), at JGLUE's real
prompt lengths, on the path where prompts fit the window and on the path where they are truncated.

    python benchmarks/eval.py [--quick] [--rounds 3] [--data-dir JGLUE/datasets] [--device cuda] [--results F]

Input: JNLI, MARC-ja and JCommonsenseQA (3-shot, choice scoring) and JSQuAD (2-shot, greedy
generation of up to 32 tokens) with lm-eval's japanese_leaderboard prompts and few-shot draw, read
from jaforge's embedded samples (or the real JGLUE files with --data-dir). Model on CPU: a random
Llama (d_model 128, 4 layers, ~1.8M parameters) with a 4,000-token byte-level BPE trained on the
embedded corpus only, like the demo's 4,000-piece tokenizer, so that 3-shot prompts come out at
JGLUE's lengths (the prompt token counts are reported). Two windows on the same weights: 2,048
("fitting": no prompt is cut) and 256 (the demo model's: every prompt is truncated from the left).
On CUDA (--device cuda, the default when a GPU is present): a random ~1.1B Llama (TinyLlama's
shape) in bfloat16 for both tools, jaforge batch 32 and lm-eval batch auto and 32.

Same answers first: for each window and each lm-eval batch size, every example's prompt, per-choice
log-likelihoods (within 1e-4 in float32, 5e-2 in bfloat16), prediction and generated text must
equal jaforge's, else the run fails. Then alternating rounds (the order rotates), each tool in a
fresh worker process per round and window, time everything after the imports: model (and for
lm-eval its task index) load, then each task in turn (data, prompts, scoring, metrics). ratio =
lm-eval seconds / jaforge seconds of the same round, for the whole run and per task; examples/s per
task. The headline ratio is against lm-eval's faster batch size. The load average is recorded.

Writes benchmarks/results/eval.json (eval-cuda.json on a GPU); the last line of output is the JSON
summary.
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
RESULTS = REPO / "benchmarks" / "results"
TASKS = ["jnli", "marc_ja", "jcommonsenseqa", "jsquad"]
CHOICE_TASKS = TASKS[:3]
WINDOWS = {"fitting": 2048, "truncated": 256}
NEW_TOKENS = 32
SIZES = {  # (d_model, n_layer, heads, kv heads, ffn, vocab)
    "cpu": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=384, vocab=4000),
    "1b": dict(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
               intermediate_size=5632, vocab=32000),
}


def prepare(work: Path, size: str = "cpu", quick: bool = False, init_std: float = 0.1) -> Path:
    """The benchmark model: a random Llama + a BPE trained on the embedded corpus, HF directory."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from jaforge import data

    shape = dict(SIZES[size])
    vocab = 512 if quick else shape.pop("vocab")
    shape.pop("vocab", None)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([d["text"] for d in data.japanese_clean()], trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    directory = work / "model"
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                         unk_token="<unk>", pad_token="<pad>").save_pretrained(str(directory))
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=max(WINDOWS.values()),
                                      initializer_range=init_std if size == "cpu" else 0.02, tie_word_embeddings=False,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=3, **shape)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    # the 1.1B model is stored in bfloat16, the dtype both tools run it in
    (model if size == "cpu" else model.to(torch.bfloat16)).save_pretrained(str(directory))
    return directory


# --- one timed run of one tool ----------------------------------------------------------------

def worker(args: argparse.Namespace) -> None:
    """One run of one tool on one window: the model loads, then each task in turn; a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    import transformers
    from transformers.models.llama import modeling_llama  # noqa: F401  (imports before the clock)

    transformers.AutoModelForCausalLM, transformers.AutoTokenizer  # noqa: B018  (resolve lazy names)
    from jaforge.eval import parity

    if args.worker == "lm-eval":
        parity.import_lm_eval()
        from lm_eval.models import huggingface  # noqa: F401
    start = time.perf_counter()
    if args.worker == "lm-eval":
        batch = int(args.tool_batch) if args.tool_batch.isdigit() else args.tool_batch
        model = parity.lm_eval_model(args.model, batch, args.device, args.dtype, args.window)
        manager = parity.lm_eval_tasks(args.tasks, args.work, args.data_dir)
        run = lambda task: parity.run_lm_eval(model, [task], args.work, args.limit, args.data_dir,  # noqa: E731
                                              max_gen_toks=NEW_TOKENS, task_manager=manager)[task]
    else:
        backend = parity.load_backend(args.model, device=args.device, dtype=args.dtype, max_length=args.window)
        run = lambda task: parity.run_jaforge(backend, [task], args.limit, args.data_dir,  # noqa: E731
                                              batch_size=int(args.tool_batch), max_gen_toks=NEW_TOKENS)[task]
    sync(args.device)
    load = time.perf_counter() - start
    seconds, rows = {}, {}
    for task in args.tasks:
        t0 = time.perf_counter()
        rows[task] = run(task)
        sync(args.device)
        seconds[task] = time.perf_counter() - t0
    print(json.dumps({"load": load, "tasks": seconds, "seconds": time.perf_counter() - start,
                      "examples": {t: len(r["samples"]) for t, r in rows.items()}, "max_rss_mb": peak_rss_mb(),
                      "max_gpu_mb": peak_gpu_mb(args.device), "rows": rows if args.keep_rows else None},
                     ensure_ascii=False))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_gpu_mb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def tool_names(args: argparse.Namespace) -> list[str]:
    return ["jaforge"] + [f"lm-eval (batch {b})" for b in args.peer_batches]


def timed_run(tool: str, window: str, model: Path, work: Path, args: argparse.Namespace,
              keep_rows: bool = False) -> dict:
    """One fresh worker process running `tool` (a name from `tool_names`) on one window."""
    name, batch = ("jaforge", str(args.batch_size)) if tool == "jaforge" else \
        ("lm-eval", tool.rsplit(" ", 1)[1].rstrip(")"))
    command = [sys.executable, __file__, "--worker", name, "--model", str(model), "--work", str(work / name),
               "--threads", str(args.threads), "--tool-batch", batch, "--window", str(WINDOWS[window]),
               "--device", args.device, "--dtype", args.dtype, "--tasks", ",".join(args.tasks)]
    command += ["--limit", str(args.limit)] if args.limit else []
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    command += ["--keep-rows"] if keep_rows else []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src"),
           "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker ({window}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- same answers, then the timed rounds -------------------------------------------------------

def same_answers(model: Path, work: Path, args: argparse.Namespace) -> dict:
    """jaforge's rows against lm-eval's at every window and peer batch size; `ok` when all agree.
    In float32: identical prompts, predictions and generated texts, log-likelihoods within 1e-4.
    In bfloat16/float16 (two differently batched runs round differently, ~0.4% of a sum of
    log-probabilities): identical prompts, each log-likelihood within 0.05 + 2% of its size,
    identical predictions wherever lm-eval's top two choices are further apart than that;
    identical generations are counted, not required."""
    exact = args.dtype == "float32"
    reports: dict[str, Any] = {}
    for window in args.windows:
        ours = timed_run("jaforge", window, model, work, args, keep_rows=True)["rows"]
        for peer in tool_names(args)[1:]:
            theirs = timed_run(peer, window, model, work, args, keep_rows=True)["rows"]
            reports[f"{window}, {peer}"] = agreement(ours, theirs, args.tasks, exact)
    return {"ok": all(r["ok"] for r in reports.values()), "checks": reports}


def tolerance(loglik: float, exact: bool) -> float:
    return 1e-4 if exact else 0.05 + 0.02 * abs(loglik)


def agreement(ours: dict, theirs: dict, tasks: list[str], exact: bool) -> dict:
    """One window and peer: the comparison of every task, and whether it passes."""
    from jaforge.eval.parity import compare

    per_task = {task: compare(ours[task], theirs[task]) for task in tasks}
    ok, worst = True, 0.0
    for task, report in per_task.items():
        ok &= not report["prompt_mismatches"] and (not exact or not report.get("output_mismatches"))
        for mine, peer in zip(ours[task]["samples"], theirs[task]["samples"]):
            if "logliks" not in peer:
                continue
            gaps = [abs(a - b) / tolerance(b, exact) for a, b in zip(mine["logliks"], peer["logliks"])]
            worst = max(worst, *gaps)
            decisive = _margin(peer["logliks"]) > 2 * tolerance(max(peer["logliks"]), exact)
            ok &= _argmax(mine["logliks"]) == _argmax(peer["logliks"]) or not decisive
    outputs = [r for r in per_task.values() if "output_mismatches" in r]
    return {"ok": bool(ok and worst <= 1.0),
            "max_abs_diff": max(r.get("max_abs_diff", 0.0) for r in per_task.values()),
            "max_diff_over_tolerance": round(worst, 4),
            "examples": sum(r["examples"] for r in per_task.values()),
            "identical_generations": sum(r["examples"] - len(r["output_mismatches"]) for r in outputs),
            "generations": sum(r["examples"] for r in outputs),
            "mismatches": {t: {k: r[k] for k in r if k.endswith("mismatches") and r[k]}
                           for t, r in per_task.items() if any(k.endswith("mismatches") and r[k] for k in r)}}


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _margin(logliks: list[float]) -> float:
    top = sorted(logliks, reverse=True)
    return top[0] - top[1] if len(top) > 1 else float("inf")


def timed_rounds(model: Path, work: Path, args: argparse.Namespace) -> dict[str, dict[str, list[dict]]]:
    """window → tool → one result per round; the tools' order rotates every round."""
    tools = tool_names(args)
    runs = {window: {tool: [] for tool in tools} for window in args.windows}
    for r in range(args.rounds):
        for window in args.windows:
            for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
                runs[window][tool].append(timed_run(tool, window, model, work, args))
    return runs


def prompt_tokens(model: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Token counts of the benchmark's prompts per task (the few-shot contexts)."""
    from jaforge.eval.text_tokenizer import TextTokenizer
    from jaforge.eval.prompts import build_prompts
    from jaforge.eval.runner import prepare_tasks
    from jaforge.eval.templates import get_template

    tokenizer, counts = TextTokenizer(model), {}
    for item in prepare_tasks(args.tasks, data_dir=args.data_dir, limit=args.limit):
        prompts = build_prompts(item.docs, item.pool, get_template("leaderboard", item.task.name), item.shots)
        lengths = [len(ids) for ids in tokenizer.encode_batch([p.context for p in prompts])]
        counts[item.task.name] = {"mean": round(statistics.mean(lengths), 1), "min": min(lengths),
                                  "max": max(lengths), "shots": item.shots}
    return counts


def token_work(model: Path, args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """Per window and choice task: the tokens each tool's forward passes run. lm-eval runs every
    (context, choice) on its own window; jaforge runs each of `plan_contexts`' contexts once and
    then the choices' tokens after it. Their ratio is the speed-up that comes from doing less
    work alone (at equal speed per token); the measured ratio over it is the per-token gain."""
    from jaforge.eval.prompts import build_prompts
    from jaforge.eval.runner import prepare_tasks
    from jaforge.eval.scoring import encode_choices, plan_contexts
    from jaforge.eval.templates import get_template
    from jaforge.eval.text_tokenizer import TextTokenizer

    tokenizer, work = TextTokenizer(model), {}
    items = [i for i in prepare_tasks(args.tasks, data_dir=args.data_dir, limit=args.limit)
             if i.task.name in CHOICE_TASKS]
    for window in args.windows:
        size, work[window] = WINDOWS[window], {}
        for item in items:
            prompts = build_prompts(item.docs, item.pool, get_template("leaderboard", item.task.name), item.shots)
            requests = [encode_choices(tokenizer, p.context, p.continuations) for p in prompts]
            theirs = sum(min(len(ctx) + len(c) - 1, size) for ctx, conts in requests for c in conts)
            units, too_long = plan_contexts(requests, size)
            ours = sum(len(ctx) + sum(len(requests[i][1][j]) - 1 for i, j in members) for ctx, members in units)
            ours += sum(min(len(requests[i][0]) + len(requests[i][1][j]) - 1, size) for i, j in too_long)
            work[window][item.task.name] = {"jaforge_tokens": ours, "lm_eval_tokens": theirs,
                                            "work_ratio": round(theirs / ours, 2)}
    return work


def summarize(runs: dict, args: argparse.Namespace) -> dict:
    """Ratios (whole run and per task) against every peer, per window; examples/s per task."""
    out: dict[str, Any] = {}
    for window, by_tool in runs.items():
        ours = by_tool["jaforge"]
        peers = {}
        for peer in tool_names(args)[1:]:
            theirs = by_tool[peer]
            total = ratio_stats([r["seconds"] for r in theirs], [r["seconds"] for r in ours])
            per_task = {t: round(ratio_stats([r["tasks"][t] for r in theirs], [r["tasks"][t] for r in ours])["median"], 2)
                        for t in args.tasks}
            choice = [t for t in CHOICE_TASKS if t in args.tasks] or args.tasks
            peers[peer] = {"ratio_median": round(total["median"], 2), "ratio_min": round(total["min"], 2),
                           "ratio_max": round(total["max"], 2), "ratio_per_task": per_task,
                           "ratio_choice_tasks": round(statistics.median(
                               sum(r["tasks"][t] for t in choice) / sum(o["tasks"][t] for t in choice)
                               for r, o in zip(theirs, ours)), 2)}
        out[window] = {
            "peers": peers,
            "examples_per_s": {tool: {t: round(statistics.median(r["examples"][t] / r["tasks"][t] for r in rs), 2)
                                      for t in args.tasks} for tool, rs in by_tool.items()},
            "seconds": {tool: [round(r["seconds"], 3) for r in rs] for tool, rs in by_tool.items()},
            "load_seconds": {tool: [round(r["load"], 3) for r in rs] for tool, rs in by_tool.items()},
            "max_rss_mb": {tool: round(max(r["max_rss_mb"] for r in rs), 1) for tool, rs in by_tool.items()},
            "max_gpu_mb": {tool: max(r["max_gpu_mb"] or 0 for r in rs) for tool, rs in by_tool.items()},
        }
    return out


def machine(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    info = {"nproc": os.cpu_count(), "cpu": cpu, "threads_per_run": args.threads, "torch": torch.__version__,
            "transformers": transformers.__version__, "device": args.device, "dtype": args.dtype}
    if args.device.startswith("cuda"):
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                    driver=subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                          capture_output=True, text=True).stdout.strip())
    return info


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    from importlib.metadata import version

    model = prepare(work, "1b" if args.device.startswith("cuda") else "cpu", args.quick)
    check = same_answers(model, work, args)
    if not check["ok"]:
        raise SystemExit(f"jaforge and lm-eval disagree; not timing: {json.dumps(check, ensure_ascii=False)}")
    load_before = os.getloadavg()
    runs = timed_rounds(model, work, args)
    load_after = os.getloadavg()
    windows = summarize(runs, args)
    best = {window: min(w["peers"].values(), key=lambda p: p["ratio_median"]) for window, w in windows.items()}
    n_params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                   .from_pretrained(str(model)).parameters())
    return {
        "benchmark": "eval", "peer": f"lm-eval {version('lm_eval')}", "same_answers": True,
        "ratio_median": min(b["ratio_median"] for b in best.values()),
        "ratio_min": min(b["ratio_min"] for b in best.values()),
        "ratio_max": max(b["ratio_max"] for b in best.values()),
        "ratios": {f"{window}, {peer}": p["ratio_median"] for window, w in windows.items()
                   for peer, p in w["peers"].items()},
        "inputs": {"tasks": args.tasks, "template": "leaderboard",
                   "windows": {w: WINDOWS[w] for w in args.windows}, "max_gen_toks": NEW_TOKENS,
                   "data": args.data_dir or "jaforge's embedded samples", "prompt_tokens": prompt_tokens(model, args),
                   "token_work": token_work(model, args),
                   "model_params": n_params, "jaforge_batch_size": args.batch_size,
                   "peer_batch_sizes": args.peer_batches, "limit": args.limit},
        "windows": windows,
        "parity": {name: {k: v for k, v in r.items() if k != "ok"} for name, r in check["checks"].items()},
        "machine": {**machine(args), "load_average_before": load_before, "load_average_after": load_after},
    }


def print_table(summary: dict) -> None:
    for window, w in summary["windows"].items():
        print(f"\n{window} (window {summary['inputs']['windows'][window]})")
        tasks = summary["inputs"]["tasks"]
        print(f"{'tool':<22}{'seconds':>9}" + "".join(f"{t + ' ex/s':>22}" for t in tasks))
        for tool, secs in w["seconds"].items():
            rates = "".join(f"{w['examples_per_s'][tool][t]:>22}" for t in tasks)
            print(f"{tool:<22}{statistics.median(secs):>9.2f}{rates}")
        for peer, p in w["peers"].items():
            print(f"  {peer}: {p['ratio_median']}x whole run ({p['ratio_min']}–{p['ratio_max']}), "
                  f"choice tasks {p['ratio_choice_tasks']}x, per task {p['ratio_per_task']}")
        work = summary["inputs"]["token_work"].get(window, {})
        print("  tokens run, lm-eval / jaforge: " + ", ".join(f"{t} {w['work_ratio']}x" for t, w in work.items()))
    m = summary["machine"]
    print(f"\nload average before {[round(x, 2) for x in m['load_average_before']]}, after "
          f"{[round(x, 2) for x in m['load_average_after']]}; {m['nproc']} cores, {m['threads_per_run']} thread(s) "
          f"per run; prompt tokens {summary['inputs']['prompt_tokens']}")


def main() -> None:
    import torch

    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 examples per task, small vocabulary, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--batch-size", type=int, default=None, help="jaforge's batch_size (16 CPU, 32 CUDA)")
    parser.add_argument("--peer-batches", nargs="+", default=None,
                        help="lm-eval batch_size values (default: 8 1 on CPU, auto 32 on CUDA)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated, of " + ",".join(TASKS))
    parser.add_argument("--windows", default=",".join(WINDOWS), help="comma-separated, of " + ",".join(WINDOWS))
    parser.add_argument("--data-dir", default=None, help="the real JGLUE datasets/ folder (jnli-v1.3/ …)")
    parser.add_argument("--results", default=None, help="where the JSON goes (default: benchmarks/results/"
                        "eval.json, eval-cuda.json on a GPU; --quick writes only here)")
    parser.add_argument("--worker", choices=("jaforge", "lm-eval"), help=argparse.SUPPRESS)
    parser.add_argument("--tool-batch", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--keep-rows", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.tasks, args.windows = args.tasks.split(","), args.windows.split(",")
    on_gpu = args.device.startswith("cuda")
    args.dtype = args.dtype or ("bfloat16" if on_gpu else "float32")
    if args.worker:
        return worker(args)
    args.batch_size = args.batch_size or (32 if on_gpu else 16)
    args.peer_batches = args.peer_batches or (["auto", "32"] if on_gpu else ["8", "1"])
    if args.quick:
        args.rounds, args.limit = 1, args.limit or 8
    with tempfile.TemporaryDirectory() as tmp:
        summary = benchmark(args, Path(tmp))
    print_table(summary)
    if args.results or not args.quick:
        path = Path(args.results) if args.results else RESULTS / ("eval-cuda.json" if on_gpu else "eval.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps({k: summary[k] for k in ("benchmark", "peer", "same_answers", "ratio_median",
                                              "ratio_min", "ratio_max", "ratios", "inputs")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
