"""jaforge's pretraining step side by side with a plain transformers LlamaForCausalLM + AdamW loop.

    python benchmarks/pretrain.py [--quick] [--rounds 3] [--threads 1] [--device auto|cpu|cuda]

On a machine with CUDA (or with --device cuda) it runs the GPU benchmark instead,
benchmarks/gpu/pretrain_gpu.py (the loop vs its bare model step vs transformers at 125M–1B, bf16),
passing the other arguments on; --device cpu keeps this CPU benchmark.

Input: the embedded corpus (data/ja/clean, data/en/clean.jsonl) tokenised by `jaforge tokenize-data`
with a byte-level BPE trained here (vocab 2,048 for ~1M parameters, 8,000 for ~10M), windows drawn
by jaforge's mixture sampler. Both tools train the same Llama-shaped model (RoPE, RMSNorm, SwiGLU,
GQA, tied embeddings), starting from the same weights (the jaforge init exported with
jaforge.model.hf.export_hf and loaded by transformers), on the same batches, batch × sequence alike.

Same answers first: the two models' logits must agree within 1e-4 and their first training losses
within 1e-3 (jaforge uses fused AdamW, the peer torch's default AdamW), else the run fails.
Then alternating runs (A B, B A, …), each in a fresh process, time `steps` optimiser steps after
warm-up steps; ratio = peer seconds / jaforge seconds. MFU of one step = its tokens/s × train FLOPs
per token (jaforge.model.estimate_flops) / the fp32 matmul peak around it: each worker probes the
peak (best of three 1024³ matmuls, same threads) before its first timed step and after each one,
and a step is set against the higher of its two neighbouring probes. This machine's speed drifts
by ±20% within seconds, so a peak taken once per run misstates the steps timed later. The step
times exclude the probes; reported MFU is the median over all timed steps of all runs.
Peak RSS of each worker process is reported. jaforge's workers run its trainer as `jaforge
pretrain` does, which includes `trainer.keep_host_memory` (glibc thresholds raised so freed pages
are reused); the peer loop runs with the C library's defaults, as a user's script would. Where the CPU has AMX, jaforge's bf16 autocast path
is timed too (ratio = jaforge fp32 seconds / jaforge bf16 seconds).

The kernel floor (`kernel_floor_stepper`) runs, in the same alternation, only the step's matrix
multiplies and attention kernels on warm operands: no element-wise work, optimiser or autograd.
peer seconds / floor seconds is the most any fp32 implementation calling these kernels could
gain over the peer on this machine; 1 / the peer's MFU is the most any could gain at all.

Writes benchmarks/results/pretrain.json; the last line of output is the JSON summary.
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
RESULTS = REPO / "benchmarks" / "results" / "pretrain.json"
SIZES = {  # Llama-shaped models; batch × seq_len tokens per optimiser step
    "1m": {"model": dict(vocab_size=2048, n_layer=4, d_model=128, n_head=4, n_kv_head=2),
           "batch": 16, "seq_len": 128},
    "10m": {"model": dict(vocab_size=8000, n_layer=10, d_model=256, n_head=8, n_kv_head=4),
            "batch": 8, "seq_len": 128},
}


# --- input ----------------------------------------------------------------------------------------

def prepare(work: Path, size: str) -> dict[str, Path]:
    """Tokenizer, token shards and the shared initial weights (jaforge and HF format) for `size`."""
    import gzip

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge import data
    from jaforge.tokenizer.tokenize_data import TokenizeDataConfig, run

    spec, root = SIZES[size], work / size
    docs = data.japanese_clean() + data.english_clean()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator([d["text"] for d in docs], trainers.BpeTrainer(
        vocab_size=spec["model"]["vocab_size"], special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    (root / "tokenizer").mkdir(parents=True, exist_ok=True)
    tok.save(str(root / "tokenizer" / "tokenizer.json"))
    (root / "corpus").mkdir(exist_ok=True)
    with gzip.open(root / "corpus" / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n" for d in docs)
    run(TokenizeDataConfig(input=[str(root / "corpus")], tokenizer=str(root / "tokenizer"),
                           output_dir=str(root / "tokens"), val_fraction=0.02))
    write_initial_model(root, spec)
    return {"root": root, "tokens": root / "tokens", "init": root / "init", "hf": root / "hf"}


def write_initial_model(root: Path, spec: dict) -> None:
    import torch

    from jaforge.model import ModelConfig, Transformer
    from jaforge.model.checkpoint import save_model
    from jaforge.model.hf import export_hf

    torch.manual_seed(0)
    cfg = ModelConfig(**spec["model"], max_seq_len=spec["seq_len"] + 1)
    model = Transformer(cfg)
    save_model(model, cfg, root / "init")
    export_hf(model, cfg, root / "hf")


def pretrain_config(paths: dict[str, Path], size: str, precision: str = "fp32", compile: bool = False):
    from jaforge.config import build
    from jaforge.train.config import PretrainConfig

    spec = SIZES[size]
    return build(PretrainConfig, {
        "data": {"datasets": [{"name": "all", "path": str(paths["tokens"])}], "seq_len": spec["seq_len"]},
        "model": {**spec["model"], "max_seq_len": spec["seq_len"] + 1},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.1},
        "schedule": {"name": "constant", "warmup_steps": 0},
        "trainer": {"batch_size": spec["batch"], "micro_batch_size": spec["batch"], "precision": precision,
                    "compile": compile,
                    "init_from": str(paths["init"]), "progress": False, "eval_every": 0},
        "output_dir": str(paths["root"] / "run")})


# --- the two training loops -----------------------------------------------------------------------

def jaforge_stepper(paths: dict[str, Path], size: str, precision: str = "fp32", compile: bool = False):
    """jaforge's own step: the training loop's train_step (batches prepared a step ahead, micro-
    batches, clip, fused AdamW) on the model as the loop places and wraps it (torch.compile with
    `trainer.compile: true`); the loss is read every step, as the peer's loop does."""
    from jaforge.train.distributed import ProcessInfo
    from jaforge.train.loop import TrainingLoop
    from jaforge.train.trainer import PretrainTask

    loop = TrainingLoop(PretrainTask(pretrain_config(paths, size, precision, compile)), ProcessInfo())
    loop.prepare()

    def step(i: int) -> float:
        return loop.read_row(loop.train_step(i))["loss"]

    return step


def hf_stepper(paths: dict[str, Path], size: str):
    """What a transformers user writes: LlamaForCausalLM, torch AdamW, clip, the same batches."""
    import torch
    from transformers import LlamaForCausalLM

    from jaforge.train.data import MixtureSampler

    spec = SIZES[size]
    sampler = MixtureSampler(pretrain_config(paths, size).data, spec["batch"])
    model = LlamaForCausalLM.from_pretrained(str(paths["hf"]), dtype=torch.float32)
    model.train()
    groups = [{"params": [p for p in model.parameters() if p.ndim >= 2 and p is not
                          model.model.embed_tokens.weight], "weight_decay": 0.1},
              {"params": [p for p in model.parameters() if p.ndim < 2 or p is
                          model.model.embed_tokens.weight], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95))

    def step(i: int) -> float:
        x = torch.from_numpy(sampler.batch(i))
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return step


def kernel_floor_stepper(size: str):
    """One step's matrix multiplies (forward, input and weight gradients of every projection and
    the output head) and attention kernels (forward and backward), back to back on warm operands,
    with no element-wise work, optimiser or autograd bookkeeping between them. Any fp32 step that
    calls these kernels (MKL sgemm, torch's CPU flash attention) takes at least this long, so
    peer time / floor time bounds the ratio any implementation can reach on this machine."""
    import torch
    import torch.nn.functional as F

    from jaforge.model import ModelConfig
    from jaforge.train.host_memory import keep_freed_memory

    spec = SIZES[size]
    cfg = ModelConfig(**spec["model"], max_seq_len=spec["seq_len"] + 1)
    rows, seq = spec["batch"] * (spec["seq_len"] + 1), spec["seq_len"] + 1
    q_width, kv_width = cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim
    shapes = [(cfg.d_model, q_width), (cfg.d_model, kv_width), (cfg.d_model, kv_width),
              (q_width, cfg.d_model), (cfg.d_model, cfg.d_ff), (cfg.d_model, cfg.d_ff),
              (cfg.d_ff, cfg.d_model)] * cfg.n_layer + [(cfg.d_model, cfg.vocab_size)]
    operands = {shape: (torch.randn(rows, shape[0]), torch.randn(shape[1], shape[0]),
                        torch.randn(rows, shape[1])) for shape in set(shapes)}
    q = torch.randn(spec["batch"], cfg.n_head, seq, cfg.head_dim, requires_grad=True)
    k, v = (torch.randn(spec["batch"], cfg.n_kv_head, seq, cfg.head_dim, requires_grad=True)
            for _ in range(2))
    grad_out = torch.randn_like(q)
    keep_freed_memory()  # as jaforge's trainer does: no fresh pages for the outputs

    def step(i: int) -> float:
        for shape in shapes:  # forward, input gradient, weight gradient
            x, w, grad = operands[shape]
            x @ w.t(), grad @ w, grad.t() @ x
        for _ in range(cfg.n_layer):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            torch.autograd.grad(out, (q, k, v), grad_out)
        return 0.0

    return step


def worker(args: argparse.Namespace) -> None:
    """One timed run in this fresh process; prints seconds, losses and peak RSS as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    paths = {k: Path(v) for k, v in json.loads(args.paths).items()}
    tool = args.worker
    if tool == "floor":
        step = kernel_floor_stepper(args.size)
    elif tool == "hf":
        step = hf_stepper(paths, args.size)
    else:
        step = jaforge_stepper(paths, args.size, "bf16" if "bf16" in tool else "fp32", "compile" in tool)
    start = time.perf_counter()
    losses = [step(i) for i in range(args.warmup)]
    warmup_seconds = time.perf_counter() - start
    probes, step_seconds = [matmul_peak(args.threads, repeats=3)], []
    for i in range(args.steps):
        start = time.perf_counter()
        losses.append(step(args.warmup + i))
        step_seconds.append(time.perf_counter() - start)
        probes.append(matmul_peak(args.threads, repeats=3))
    print(json.dumps({"seconds": sum(step_seconds), "step_seconds": step_seconds,
                      "step_peaks": [max(a, b) for a, b in zip(probes, probes[1:])],
                      "warmup_seconds": warmup_seconds, "losses": losses,
                      "max_rss_mb": peak_rss_mb(), "matmul_peak": max(probes)}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec,
    so a worker would report its parent's peak (the parent holds both models) instead of its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(tool: str, size: str, paths: dict, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--worker", tool, "--size", size, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--paths", json.dumps({k: str(v) for k, v in paths.items()})]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- checks and measurement -----------------------------------------------------------------------

def same_answers(paths: dict[str, Path], size: str) -> dict[str, float]:
    """Max |logit difference| of the two models, and the first training losses of each loop."""
    import torch
    from transformers import LlamaForCausalLM

    from jaforge.model.checkpoint import load_model

    ours, _ = load_model(paths["init"])
    peer = LlamaForCausalLM.from_pretrained(str(paths["hf"]), dtype=torch.float32)
    ids = torch.randint(0, SIZES[size]["model"]["vocab_size"], (2, SIZES[size]["seq_len"] + 1),
                        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logit_diff = (ours(ids).logits - peer(input_ids=ids).logits).abs().max().item()
    a, b = jaforge_stepper(paths, size), hf_stepper(paths, size)
    loss_diff = max(abs(a(i) - b(i)) for i in range(3))
    return {"max_logit_diff": logit_diff, "max_loss_diff_3_steps": loss_diff,
            "ok": logit_diff <= 1e-4 and loss_diff <= 1e-3}


def matmul_peak(threads: int, n: int = 1024, repeats: int = 10) -> float:
    """fp32 matmul FLOP/s on this machine now (best of `repeats`)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def measure(size: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from jaforge.model import ModelConfig, count_params, estimate_flops

    paths = prepare(work, size)
    check = same_answers(paths, size)
    if not check["ok"]:
        raise SystemExit(f"{size}: the two loops do not agree: {check}")
    tools = ["jaforge", "hf", "floor"] + (["jaforge-compile"] if args.compile else []) + \
        (["jaforge-bf16"] if args.bf16 and has_amx() else [])
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r in range(args.rounds):
        for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
            runs[tool].append(timed_run(tool, size, paths, args))
    spec = SIZES[size]
    cfg = ModelConfig(**spec["model"], max_seq_len=spec["seq_len"] + 1)
    tokens = spec["batch"] * spec["seq_len"] * args.steps
    flops = estimate_flops(cfg, spec["seq_len"] + 1)["train_per_token"]
    seconds = {t: [x["seconds"] for x in runs[t]] for t in tools}
    result = {"params": count_params(cfg), "batch": spec["batch"], "seq_len": spec["seq_len"],
              "steps_timed": args.steps, "same_answers": check, "seconds": seconds,
              "tokens_per_s": {t: tokens / statistics.median(s) for t, s in seconds.items()},
              "max_rss_mb": {t: max(x["max_rss_mb"] for x in runs[t]) for t in tools},
              "warmup_seconds": {t: statistics.median(x["warmup_seconds"] for x in runs[t]) for t in tools},
              "ratio": ratio_stats(seconds["hf"], seconds["jaforge"])}
    result["ratio_ceiling"] = ratio_stats(seconds["hf"], seconds["floor"])
    if "jaforge-compile" in seconds:
        result["ratio_compiled"] = ratio_stats(seconds["hf"], seconds["jaforge-compile"])
    result["matmul_peak_gflops"] = {t: [x["matmul_peak"] / 1e9 for x in runs[t]] for t in tools}
    step_tokens = spec["batch"] * spec["seq_len"]
    result["mfu"] = {t: statistics.median(step_tokens / sec * flops / peak for x in runs[t]
                                          for sec, peak in zip(x["step_seconds"], x["step_peaks"]))
                     for t in tools}
    if "jaforge-bf16" in seconds:
        result["bf16_speedup"] = ratio_stats(seconds["jaforge"], seconds["jaforge-bf16"])
    return result



def machine(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "threads_per_run": threads, "amx": has_amx(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "load_average": os.getloadavg()}


def run_gpu_benchmark_instead() -> bool:
    """On CUDA (unless --device cpu), hand the command line to benchmarks/gpu/pretrain_gpu.py."""
    import runpy

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--device", default="auto")
    pre.add_argument("--worker")
    known, rest = pre.parse_known_args()
    if known.worker or known.device == "cpu":
        return False
    import torch

    if known.device == "auto" and not torch.cuda.is_available():
        return False
    gpu_script = Path(__file__).resolve().parent / "gpu" / "pretrain_gpu.py"
    sys.argv = [str(gpu_script)] + rest
    runpy.run_path(str(gpu_script), run_name="__main__")
    return True


def main() -> None:
    if run_gpu_benchmark_instead():
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto: the GPU benchmark where CUDA is present")
    parser.add_argument("--quick", action="store_true", help="~1M model only, 1 round, few steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="skip the torch.compile run (its warm-up compiles for about a minute)")
    parser.add_argument("--worker"), parser.add_argument("--size"), parser.add_argument("--paths")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.rounds, args.steps, args.warmup, args.bf16, args.compile = 1, 3, 1, False, False
    sizes = ["1m"] if args.quick else ["1m", "10m"]
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: measure(size, Path(tmp), args) for size in sizes}
    peak = statistics.median(g for r in results.values() for runs in r["matmul_peak_gflops"].values()
                             for g in runs) * 1e9
    print_table(results, peak)
    summary = summarise(results, peak, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**summary, "results": results, "machine": machine(args.threads)},
                                  indent=1), encoding="utf-8")
    print(json.dumps(summary))


def print_table(results: dict[str, Any], peak: float) -> None:
    print(f"fp32 matmul peak (median over runs): {peak / 1e9:.1f} GFLOP/s")
    print(f"{'size':<5} {'params':>10} {'jaforge tok/s':>14} {'hf tok/s':>10} {'ratio':>6} "
          f"{'MFU jaforge':>11} {'MFU hf':>7} {'RSS MB j/hf':>12}")
    for size, r in results.items():
        t, m, rss = r["tokens_per_s"], r["mfu"], r["max_rss_mb"]
        print(f"{size:<5} {r['params']['total']:>10,} {t['jaforge']:>14.0f} {t['hf']:>10.0f} "
              f"{r['ratio']['median']:>6.2f} {m['jaforge']:>11.1%} {m['hf']:>7.1%} "
              f"{rss['jaforge']:>5.0f}/{rss['hf']:<5.0f}")
        print(f"      kernel floor (the step's matmuls and attention alone): "
              f"{t['floor']:.0f} tok/s, MFU {m['floor']:.1%}; no implementation of this step with "
              f"these kernels can beat hf by more than {r['ratio_ceiling']['median']:.2f}×")
        if "ratio_compiled" in r:
            print(f"      torch.compile: {t['jaforge-compile']:.0f} tok/s, {r['ratio_compiled']['median']:.2f}× "
                  f"over hf, MFU {m['jaforge-compile']:.1%} (compiling took "
                  f"{r['warmup_seconds']['jaforge-compile']:.0f} s of warm-up)")
        if "bf16_speedup" in r:
            print(f"      bf16 autocast: {r['bf16_speedup']['median']:.2f}× over fp32")


def summarise(results: dict[str, Any], peak: float, args: argparse.Namespace) -> dict[str, Any]:
    import transformers

    main_size = "10m" if "10m" in results else "1m"
    r = results[main_size]
    return {"benchmark": "pretrain", "peer": f"transformers {transformers.__version__}",
            "same_answers": all(x["same_answers"]["ok"] for x in results.values()),
            "ratio_median": r["ratio"]["median"], "ratio_min": r["ratio"]["min"],
            "ratio_max": r["ratio"]["max"],
            "ratios": {size: x["ratio"]["median"] for size, x in results.items()},
            "ratios_ceiling": {size: x["ratio_ceiling"]["median"] for size, x in results.items()},
            "mfu_hf": {size: x["mfu"]["hf"] for size, x in results.items()},
            "ratios_compiled": {size: x["ratio_compiled"]["median"] for size, x in results.items()
                                if "ratio_compiled" in x},
            "mfu_jaforge": {size: x["mfu"]["jaforge"] for size, x in results.items()},
            "mfu_jaforge_compiled": {size: x["mfu"]["jaforge-compile"] for size, x in results.items()
                                     if "jaforge-compile" in x["mfu"]},
            "inputs": {"sizes": {s: x["params"]["total"] for s, x in results.items()},
                       "rounds": args.rounds, "steps": args.steps,
                       "matmul_peak_gflops": peak / 1e9}}


if __name__ == "__main__":
    main()
