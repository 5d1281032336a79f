"""jaforge's pretrain loop on a GPU, end to end, against its own bare model step and against a
transformers LlamaForCausalLM loop: bf16 autocast, fused AdamW, the same Llama shapes (untied
embeddings, vocab 32,000), batch 16 × 1,024 tokens.

    python benchmarks/pretrain.py                       # on a CUDA machine it runs this
    python benchmarks/gpu/pretrain_gpu.py [--sizes 125m,350m,1b] [--budget-s 330]
    python benchmarks/gpu/pretrain_gpu.py --tiny        # the same code on the CPU, tiny shapes

Per size, each timed between device synchronisations after warm-up steps:
- bare: jaforge's model step alone on one batch already on the device (autocast forward and
  backward, clip, fused AdamW): what no loop around this model can beat;
- loop: `jaforge pretrain` itself (jaforge.train.trainer.run: sampler, prefetch thread, pinned
  non-blocking copies, schedule, metrics every 10 steps); its step time is read off metrics.jsonl's
  elapsed_s between logged steps (taken once the device has finished), so it counts everything the
  loop does; its final checkpoint is timed apart and amortised over 1,000 steps;
- hf: what a transformers user writes: LlamaForCausalLM (SDPA), autocast bf16, fused AdamW, clip,
  the sampler's batches copied to the device each step, the loss read every 10 steps;
- loop-compile and bare-compile (1B): the same under torch.compile (`trainer.compile: true`).
Same answers first: on the first size the loop (from jaforge's init) and the HF loop (the same
weights through export_hf) log the same first 3 losses within 2e-2 (bf16), else it stops. On CUDA
the loop is also checked to read nothing back to the host between logged steps
(torch.cuda.set_sync_debug_mode). MFU = tokens/s × training FLOPs per token / peak, against the
datasheet's bf16 peak and an 8192³ bf16 matmul measured in the same run. Results go to
benchmarks/results/pretrain-gpu.json after every measurement; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (Budget, device_name, machine, matmul_peak, peak_memory_gib, reset_memory,  # noqa: E402
                    spec_peak, synchronize, timed, write_results)

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "pretrain-gpu.json"
SHAPE = dict(vocab_size=32000, tie_embeddings=False)
SIZES = {
    "tiny": dict(model=dict(vocab_size=2048, tie_embeddings=False, n_layer=2, d_model=64, n_head=4,
                            n_kv_head=2, d_ff=176), batch=4, seq_len=64),
    "125m": dict(model=dict(SHAPE, n_layer=12, d_model=768, n_head=12, n_kv_head=4, d_ff=2048),
                 batch=16, seq_len=1024),
    "350m": dict(model=dict(SHAPE, n_layer=24, d_model=1024, n_head=16, n_kv_head=8, d_ff=2816),
                 batch=16, seq_len=1024),
    "1b": dict(model=dict(SHAPE, n_layer=16, d_model=2048, n_head=32, n_kv_head=8, d_ff=5632),
               batch=16, seq_len=1024),
}
LOG_EVERY, LR, LOSS_TOLERANCE, CHECKPOINT_INTERVAL = 10, 3e-4, 2e-2, 1000


def prepare(work: Path, vocab: int) -> Path:
    """Token shards of the embedded corpus under a byte-level BPE of up to `vocab` tokens."""
    import gzip

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge import data
    from jaforge.tokenizer.tokenize_data import TokenizeDataConfig, run

    docs = data.japanese_clean() + data.english_clean()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator([d["text"] for d in docs], trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    (work / "tokenizer").mkdir(parents=True, exist_ok=True)
    tok.save(str(work / "tokenizer" / "tokenizer.json"))
    (work / "corpus").mkdir(exist_ok=True)
    with gzip.open(work / "corpus" / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n" for d in docs)
    run(TokenizeDataConfig(input=[str(work / "corpus")], tokenizer=str(work / "tokenizer"),
                           output_dir=str(work / "tokens"), val_fraction=0.02))
    return work / "tokens"


def loop_config(tokens: Path, size: str, device: str, out: Path, steps: int, compile: bool = False,
                init_from: str | None = None, log_every: int = LOG_EVERY):
    from jaforge.config import build
    from jaforge.train.config import PretrainConfig

    spec = SIZES[size]
    return build(PretrainConfig, {
        "data": {"datasets": [{"name": "all", "path": str(tokens)}], "seq_len": spec["seq_len"]},
        "model": {**spec["model"], "max_seq_len": spec["seq_len"] + 1},
        "optim": {"name": "adamw", "lr": LR, "weight_decay": 0.1, "fused": True},
        "schedule": {"name": "constant", "warmup_steps": 0},
        "trainer": {"max_steps": steps, "batch_size": spec["batch"], "micro_batch_size": spec["batch"],
                    "device": device, "precision": "bf16", "compile": compile, "log_every": log_every,
                    "eval_every": 0, "checkpoint_every": 0, "keep_last": 1, "progress": False,
                    "init_from": init_from, "resume": "never"},
        "output_dir": str(out)})


def bare_step(tokens: Path, size: str, device: str, warm: int, steps: int, compile: bool = False) -> dict:
    """jaforge's model step alone: one batch on the device, no data, no loss read until the end."""
    import torch

    from jaforge.model import Transformer
    from jaforge.train.data import MixtureSampler
    from jaforge.train.optim import build_optimizer

    cfg = loop_config(tokens, size, device, Path("unused"), 1)
    torch.manual_seed(0)
    model = Transformer(cfg.model).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    stepped = torch.compile(model) if compile else model
    x = torch.from_numpy(MixtureSampler(cfg.data, cfg.trainer.batch_size).batch(0)).to(device)
    kind = "cuda" if device.startswith("cuda") else "cpu"

    def one():
        with torch.autocast(kind, dtype=torch.bfloat16):
            loss = stepped(x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return _time_steps(one, device, warm, steps)


def _time_steps(one, device: str, warm: int, steps: int) -> dict:
    start = time.perf_counter()
    for _ in range(warm):
        one()
    synchronize(device)
    warm_s, start = time.perf_counter() - start, time.perf_counter()
    for _ in range(steps):
        loss = one()
    synchronize(device)
    return {"step_s": (time.perf_counter() - start) / steps, "warmup_s": warm_s,
            "peak_gib": peak_memory_gib(device), "loss": loss.item()}


def loop_run(tokens: Path, size: str, device: str, work: Path, warm: int, steps: int,
             compile: bool = False, log_every: int = LOG_EVERY) -> dict:
    """`jaforge pretrain` end to end; the step time between its logged steps warm and warm+steps."""
    from jaforge.train.metrics import read_metrics
    from jaforge.train.trainer import run

    out = work / f"loop-{size}{'-compile' if compile else ''}"
    cfg = loop_config(tokens, size, device, out, warm + steps, compile, log_every=log_every)
    result, wall = timed(lambda: run(cfg))
    rows = {r["step"]: r for r in read_metrics(out / "metrics.jsonl")}
    step_s = (rows[warm + steps]["elapsed_s"] - rows[warm]["elapsed_s"]) / steps
    m = result.metrics
    return {"step_s": step_s, "warmup_s": rows[warm]["elapsed_s"], "wall_s": wall,
            "checkpoint_s": m.get("checkpoint_s"), "loss": m["loss"],
            "peak_gib": m["gpu_peak_mb"] / 1024 if "gpu_peak_mb" in m else peak_memory_gib(device)}


def hf_model(size: str, device: str, hf_dir: Path | None = None):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if hf_dir is not None:
        model = LlamaForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32, attn_implementation="sdpa")
        return model.to(device).train()
    spec, m = SIZES[size], SIZES[size]["model"]
    config = LlamaConfig(vocab_size=m["vocab_size"], hidden_size=m["d_model"], intermediate_size=m["d_ff"],
                         num_hidden_layers=m["n_layer"], num_attention_heads=m["n_head"],
                         num_key_value_heads=m["n_kv_head"], max_position_embeddings=spec["seq_len"] + 1,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to(device).train()


def hf_run(tokens: Path, size: str, device: str, warm: int, steps: int, hf_dir: Path | None = None,
           log_every: int = LOG_EVERY) -> dict:
    """The transformers loop a user writes; the loss read every `log_every` steps."""
    import torch

    from jaforge.train.data import MixtureSampler

    cfg = loop_config(tokens, size, device, Path("unused"), 1)
    model = hf_model(size, device, hf_dir)
    embed = model.model.embed_tokens.weight
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.ndim >= 2 and p is not embed], "weight_decay": 0.1},
              {"params": [p for p in params if p.ndim < 2 or p is embed], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.95), fused=device.startswith("cuda"))
    sampler = MixtureSampler(cfg.data, cfg.trainer.batch_size)
    kind, losses, step = ("cuda" if device.startswith("cuda") else "cpu"), [], [0]

    def one():
        x = torch.from_numpy(sampler.batch(step[0])).to(device)
        with torch.autocast(kind, dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step[0] += 1
        if step[0] % log_every == 0:
            losses.append(loss.item())
        return loss

    return {**_time_steps(one, device, warm, steps), "losses": losses}


def same_answers(tokens: Path, size: str, device: str, work: Path) -> dict:
    """The loop and the HF loop from the same weights log the same first 3 losses (bf16)."""
    import torch

    from jaforge.model import Transformer
    from jaforge.model.checkpoint import save_model
    from jaforge.model.hf import export_hf
    from jaforge.train.metrics import read_metrics
    from jaforge.train.trainer import run

    cfg = loop_config(tokens, size, device, work / "check", 3, init_from=str(work / "init"), log_every=1)
    torch.manual_seed(0)
    model = Transformer(cfg.model)
    save_model(model, cfg.model, work / "init")
    export_hf(model, cfg.model, work / "hf")
    del model
    run(cfg)
    ours = [r["loss"] for r in read_metrics(work / "check" / "metrics.jsonl") if "loss" in r]  # not the step-0 row
    theirs = hf_run(tokens, size, device, 0, 3, hf_dir=work / "hf", log_every=1)["losses"]
    diff = max(abs(a - b) for a, b in zip(ours, theirs))
    return {"jaforge_losses": ours, "hf_losses": theirs, "max_loss_diff": diff,
            "tolerance": LOSS_TOLERANCE, "ok": diff <= LOSS_TOLERANCE and len(ours) == len(theirs) == 3}


def host_reads(tokens: Path, size: str, device: str, work: Path) -> dict:
    """CUDA's sync debug mode counts the loop's host synchronisations: none in 10 unlogged steps,
    the loss and gradient norm when a step is logged."""
    import torch

    from jaforge.train.loop import TrainingLoop
    from jaforge.train.trainer import PretrainTask

    if not device.startswith("cuda"):
        return {"checked": False, "why": "CUDA only (tests/train/test_loop.py checks it on the CPU)"}

    def syncs(fn):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                value = fn()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return value, sum("synchroniz" in str(w.message).lower() for w in caught)

    loop = TrainingLoop(PretrainTask(loop_config(tokens, size, device, work / "syncs", 40)))
    loop.prepare()
    for step in range(3):
        loop.train_step(step)
    synchronize(device)
    out, in_steps = syncs(lambda: [loop.train_step(s) for s in range(3, 13)][-1])
    _, in_row = syncs(lambda: loop.read_row(out))
    loop.batches.close()
    return {"checked": True, "syncs_in_10_unlogged_steps": in_steps, "syncs_reading_a_row": in_row,
            "ok": in_steps == 0}


# --- the plan: most important first, each skipped once it would overrun the budget ---------------

ESTIMATE_S = {"tiny": 8, "125m": 20, "350m": 30, "1b": 60}
COMPILE_S = {"tiny": 90, "125m": 90, "350m": 120, "1b": 150}


def plan(sizes: list[str], compile: bool) -> list[tuple[str, str, bool]]:
    """(size, tool, compiled) in priority order: loop vs bare at every size, loop vs hf at the
    larger sizes, the compiled loop at the largest, then the rest."""
    first = [(s, t, False) for s in sizes for t in ("bare", "loop")]
    first += [(s, "hf", False) for s in sizes[1:] or sizes]
    largest = sizes[-1]
    later = [(largest, "loop", True)] if compile else []
    later += [(s, "hf", False) for s in sizes[:1] if len(sizes) > 1]
    later += [(largest, "bare", True)] if compile else []
    return first + later


def measure(item: tuple[str, str, bool], tokens: Path, device: str, work: Path, args) -> dict:
    size, tool, compiled = item
    reset_memory(device)
    if tool == "bare":
        result = bare_step(tokens, size, device, args.warmup, args.steps, compiled)
    elif tool == "loop":
        result = loop_run(tokens, size, device, work, args.warmup, args.steps, compiled, args.log_every)
    else:
        result = hf_run(tokens, size, device, args.warmup, args.steps, log_every=args.log_every)
    reset_memory(device)
    return result


def derive(size: str, runs: dict[str, dict], peaks: dict[str, float | None]) -> dict:
    """tokens/s, MFU against each peak, and the ratios the goals name, for one size."""
    from jaforge.model import ModelConfig, count_params, estimate_flops

    spec = SIZES[size]
    cfg = ModelConfig(**spec["model"], max_seq_len=spec["seq_len"] + 1)
    tokens = spec["batch"] * spec["seq_len"]
    flops = estimate_flops(cfg, spec["seq_len"] + 1)["train_per_token"]
    out: dict[str, Any] = {"params": count_params(cfg)["total"], "tokens_per_step": tokens,
                           "flops_per_token": flops, "tokens_per_s": {}, "mfu": {}}
    for tool, r in runs.items():
        rate = tokens / r["step_s"]
        out["tokens_per_s"][tool] = rate
        out["mfu"][tool] = {k: rate * flops / p for k, p in peaks.items() if p}
    ratio = lambda a, b: runs[b]["step_s"] / runs[a]["step_s"] if a in runs and b in runs else None  # noqa: E731
    out["loop_vs_bare"] = ratio("loop", "bare")
    out["loop_vs_hf"] = ratio("loop", "hf")
    out["compiled_loop_vs_bare"] = ratio("loop-compile", "bare-compile")
    out["compiled_loop_vs_hf"] = ratio("loop-compile", "hf")
    if runs.get("loop", {}).get("checkpoint_s"):
        out["checkpoint_share_every_1000_steps"] = runs["loop"]["checkpoint_s"] / (
            CHECKPOINT_INTERVAL * runs["loop"]["step_s"] + runs["loop"]["checkpoint_s"])
    return out


def goals(results: dict) -> dict:
    sizes = results["sizes"]
    get = lambda s, k: sizes.get(s, {}).get("derived", {}).get(k)  # noqa: E731
    mfu_1b = sizes.get("1b", {}).get("derived", {}).get("mfu", {}).get("loop-compile", {}).get("measured")
    return {"loop_vs_bare >= 0.95": {s: get(s, "loop_vs_bare") for s in sizes},
            "loop_vs_hf >= 1.2 (350m, 1b)": {s: get(s, "loop_vs_hf") for s in ("350m", "1b") if s in sizes},
            "compiled loop MFU >= 0.5 of the measured peak (1b)": mfu_1b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="125m,350m,1b")
    parser.add_argument("--tiny", action="store_true", help="the CPU with tiny shapes (a test of the script)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps (a multiple of --log-every)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (a multiple of --log-every)")
    parser.add_argument("--log-every", type=int, default=LOG_EVERY, help="both loops read the loss this often")
    parser.add_argument("--budget-s", type=float, default=330)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    sizes = ["tiny"] if args.tiny else args.sizes.split(",")
    device, budget = device_name(args.tiny), Budget(args.budget_s)
    results: dict[str, Any] = {"benchmark": "pretrain-gpu", "machine": machine(device), "sizes": {},
                               "skipped": [], "inputs": {"warmup": args.warmup, "steps": args.steps,
                                                         "log_every": args.log_every, "precision": "bf16"}}
    peaks = {"spec": spec_peak(device), "measured": matmul_peak(device)}
    results["peaks_tflops"] = {k: v / 1e12 if v else None for k, v in peaks.items()}
    path = Path(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokens = prepare(work / "data", SIZES[sizes[0]]["model"]["vocab_size"])
        results["same_answers"] = same_answers(tokens, sizes[0], device, work / "same")
        if not results["same_answers"]["ok"]:
            write_results(path, results)
            raise SystemExit(f"the two loops do not agree: {results['same_answers']}")
        results["host_reads"] = host_reads(tokens, sizes[0], device, work)
        for item in plan(sizes, args.compile):
            size, tool, compiled = item
            estimate = (COMPILE_S if compiled else ESTIMATE_S)[size]
            if not budget.fits(estimate):
                results["skipped"].append(f"{size} {tool}{' compile' if compiled else ''}: over budget")
                continue
            entry = results["sizes"].setdefault(size, {"runs": {}})
            entry["runs"][tool + ("-compile" if compiled else "")] = measure(item, tokens, device, work, args)
            entry["derived"] = derive(size, entry["runs"], peaks)
            results["goals"] = goals(results)
            write_results(path, results)
    print_table(results)
    print(json.dumps(summary(results)))


def print_table(results: dict) -> None:
    m = results["machine"]
    print(f"{m.get('gpu', 'cpu')} | torch {m['torch']} | bf16 matmul peak "
          f"{results['peaks_tflops']['measured']:.0f} TFLOP/s (spec {results['peaks_tflops']['spec']})")
    print(f"{'size':<6}{'tool':<14}{'tok/s':>10}{'step ms':>9}{'MFU spec':>9}{'MFU meas':>9}{'GiB':>7}")
    for size, entry in results["sizes"].items():
        d = entry["derived"]
        for tool, r in entry["runs"].items():
            mfu = d["mfu"][tool]
            print(f"{size:<6}{tool:<14}{d['tokens_per_s'][tool]:>10.0f}{r['step_s'] * 1e3:>9.1f}"
                  f"{mfu.get('spec', float('nan')):>9.1%}{mfu.get('measured', float('nan')):>9.1%}"
                  f"{r['peak_gib']:>7.1f}")
        print(f"      loop/bare {d['loop_vs_bare']}, loop/hf {d['loop_vs_hf']}, "
              f"compiled loop/bare {d['compiled_loop_vs_bare']}")
    print("goals:", json.dumps(results.get("goals", {})))
    if results["skipped"]:
        print("skipped:", "; ".join(results["skipped"]))


def summary(results: dict) -> dict:
    import statistics

    import transformers

    ratios = {s: e["derived"]["loop_vs_hf"] for s, e in results["sizes"].items()
              if e["derived"].get("loop_vs_hf")}
    values = list(ratios.values()) or [float("nan")]
    return {"benchmark": "pretrain-gpu", "peer": f"transformers {transformers.__version__}",
            "same_answers": results["same_answers"]["ok"], "ratio_median": statistics.median(values),
            "ratio_min": min(values), "ratio_max": max(values), "ratios": ratios,
            "ratios_loop_vs_bare": {s: e["derived"]["loop_vs_bare"] for s, e in results["sizes"].items()},
            "goals": results.get("goals", {}),
            "inputs": {"sizes": {s: e["derived"]["params"] for s, e in results["sizes"].items()},
                       "device": results["machine"].get("gpu", "cpu"), **results["inputs"]}}


if __name__ == "__main__":
    main()
