"""LoRA instruction tuning through jaforge side by side with PEFT + TRL's SFTTrainer.

    python benchmarks/sft.py [--quick] [--rounds 3] [--steps 10] [--threads 1] [--device auto|cpu|cuda]
    python benchmarks/sft.py --tiny          # the GPU setup's code path on the CPU, small shapes

On CUDA (auto, or --device cuda) the GPU setup runs instead: a ~350M Llama-shaped model (vocab
32,000, untied), batch 16, seq_len 1,024, bf16 autocast for both tools (TRL: bf16=True), activation
checkpointing off for both (TRL's default turns it on; jaforge's is off), the loss read every 10
steps by both (TRL: logging_steps=10), each timed region between device synchronisations; results
in benchmarks/results/sft-gpu.json with peak GPU memory. The loss check then allows 2e-2 (bf16).

Input: the embedded Japanese instruction data (data/sft/dolly_ja.jsonl + chat.jsonl) in the
Alpaca-ja template, loss on responses only, one example per row padded to the batch's longest
(TRL's default collation), seq_len 256. The model: a small Llama-shaped Hugging Face directory
(RoPE, RMSNorm, SwiGLU, GQA, tied embeddings; ~1.4M parameters) over a byte-level BPE trained here.
Both tools tune LoRA r=8 on q/k/v/o from the same initial adapter (jaforge's init, saved as a PEFT
adapter and loaded by PEFT), with AdamW (lr 1e-3, betas 0.9/0.999, no decay), constant lr, grad
clip 1.0, on the same batches in the same order: TRL gets jaforge's tokenised rows (input_ids +
completion_mask, a dataset SFTTrainer accepts as processed) with sequential sampling.

Same answers first: the per-step training losses of the first 5 steps must agree within 1e-3
(LoRA dropout is 0 so no RNG stream matters), else the run fails. Then alternating runs (A B, B A,
…), each in a fresh process, time `steps` optimiser steps after warm-up steps; ratio = TRL seconds /
jaforge seconds. Writes benchmarks/results/sft.json; the last line of output is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
MODEL = dict(vocab_size=2048, n_layer=4, d_model=128, n_head=4, n_kv_head=2, max_seq_len=256,
             activation="swiglu", norm="rmsnorm", position="rope", tie_embeddings=True)
GPU_MODEL = dict(vocab_size=32000, n_layer=24, d_model=1024, n_head=16, n_kv_head=8, d_ff=2816,
                 max_seq_len=1024, activation="swiglu", norm="rmsnorm", position="rope", tie_embeddings=False)
PRESETS = {  # the CPU benchmark; the GPU one; the GPU one's code path on the CPU (a test)
    "cpu": dict(model=MODEL, batch=8, seq_len=256, device="cpu", precision="fp32", log_every=1,
                tolerance=1e-3, results="sft.json"),
    "gpu": dict(model=GPU_MODEL, batch=16, seq_len=1024, device="cuda", precision="bf16", log_every=10,
                tolerance=2e-2, results="sft-gpu.json"),
    "gpu-tiny": dict(model=MODEL, batch=8, seq_len=256, device="cpu", precision="bf16", log_every=10,
                     tolerance=2e-2, results="sft-gpu.json"),
}
LR = 1e-3


def prepare(work: Path, preset: str = "cpu") -> dict[str, Path]:
    """Tokenizer, the HF model dir and the shared initial adapter."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge.model import Transformer, export_hf
    from jaforge.model.config import ModelConfig
    from jaforge.sft.data import load_chat, load_dolly_ja, sample_path

    texts = [e.instruction + e.input + e.output for e in load_dolly_ja(sample_path("dolly_ja"))]
    texts += [m.content for c in load_chat(sample_path("chat")) for m in c.messages]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=PRESETS[preset]["model"]["vocab_size"], special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = work / "tokenizer"
    tokenizer.mkdir(parents=True, exist_ok=True)
    tok.save(str(tokenizer / "tokenizer.json"))
    (tokenizer / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "pad_token": "<pad>", "unk_token": "<unk>"}), encoding="utf-8")
    torch.manual_seed(0)
    cfg = ModelConfig(**PRESETS[preset]["model"])
    export_hf(Transformer(cfg), cfg, work / "hf", tokenizer_dir=tokenizer)
    paths = {"work": work, "hf": work / "hf", "tokenizer": tokenizer, "adapter": work / "init-adapter"}
    from jaforge.sft.lora import save_adapter
    from jaforge.sft.trainer import load_tunable
    from jaforge.train.loop import seed_everything

    sft_cfg = sft_config(paths, preset)
    seed_everything(sft_cfg.trainer.seed)  # the loop's start: the same LoRA init as its runs
    model = load_tunable(sft_cfg)[0]
    save_adapter(model, sft_cfg.lora, paths["adapter"], base=str(paths["hf"]))
    return paths


def sft_config(paths: dict[str, Path], preset: str = "cpu"):
    from jaforge.config import build
    from jaforge.sft.config import SFTConfig

    p = PRESETS[preset]
    return build(SFTConfig, {
        "model": str(paths["hf"]), "tokenizer": str(paths["tokenizer"]), "method": "lora",
        "data": {"sources": [{"name": "dolly_ja", "path": "data/sft/dolly_ja.jsonl", "format": "dolly_ja"},
                             {"name": "chat", "path": "data/sft/chat.jsonl", "format": "chat"}],
                 "template": "alpaca_ja", "loss_on": "response", "seq_len": p["seq_len"], "packing": False,
                 "contamination_paths": []},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "optim": {"name": "adamw", "lr": LR, "weight_decay": 0.0, "betas": [0.9, 0.999]},
        "schedule": {"name": "constant", "warmup_steps": 0},
        "trainer": {"batch_size": p["batch"], "micro_batch_size": p["batch"], "grad_clip": 1.0,
                    "progress": False, "device": p["device"], "precision": p["precision"]},
        "output_dir": str(paths["work"] / "jaforge-run")})


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_gpu_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


# --- the two tools --------------------------------------------------------------------------------

def jaforge_run(paths: dict[str, Path], total: int, warmup: int, preset: str, log_every: int) -> dict:
    """jaforge's own loop: the sft task (data, model + LoRA, fused AdamW) on the training loop's
    train_step; the loss read every `log_every` steps, as the peer logs."""
    from jaforge.sft.trainer import SFTTask
    from jaforge.train.loop import TrainingLoop

    loop = TrainingLoop(SFTTask(sft_config(paths, preset)))
    loop.prepare()
    losses, start = [], time.perf_counter()
    for step in range(total):
        if step == warmup:
            synchronize(loop.device)
            start = time.perf_counter()
        out = loop.train_step(step)
        if (step + 1) % log_every == 0:
            losses.append(loop.read_row(out)["loss"])
    synchronize(loop.device)
    return {"seconds": time.perf_counter() - start, "losses": losses}


def trl_run(paths: dict[str, Path], total: int, warmup: int, preset: str, log_every: int) -> dict:
    """PEFT + TRL SFTTrainer as its docs recommend, on jaforge's tokenised rows in jaforge's order."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from jaforge.sft.dataset import prepare_data
    from jaforge.sft.encoding import TextEncoder

    p, cfg = PRESETS[preset], sft_config(paths, preset)
    rows = prepare_data(cfg.data, TextEncoder.from_dir(paths["tokenizer"])).rows
    dataset = Dataset.from_dict({"input_ids": [r.ids for r in rows],
                                 "completion_mask": [[int(x != -100) for x in r.labels] for r in rows]})
    base = AutoModelForCausalLM.from_pretrained(str(paths["hf"]), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(paths["adapter"]), is_trainable=True)
    times, losses = {}, []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (warmup, total):
                synchronize(p["device"])
            times[state.global_step] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    # the CPU setup keeps TRL's defaults as before; the GPU setups state bf16 and no checkpointing
    precision = {} if preset == "cpu" else {"bf16": True, "gradient_checkpointing": False}
    args = SFTConfig(output_dir=str(paths["work"] / "trl-run"), per_device_train_batch_size=p["batch"],
                     gradient_accumulation_steps=1, learning_rate=LR, lr_scheduler_type="constant",
                     warmup_steps=0, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, max_grad_norm=1.0,
                     max_steps=total, logging_steps=log_every, save_strategy="no", report_to=[],
                     use_cpu=not p["device"].startswith("cuda"), train_sampling_strategy="sequential",
                     completion_only_loss=True, max_length=p["seq_len"], dataloader_num_workers=0, seed=0,
                     disable_tqdm=True, **precision)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                         processing_class=AutoTokenizer.from_pretrained(str(paths["tokenizer"])),
                         callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    begin = times[warmup] if warmup else start
    return {"seconds": times[total] - begin, "losses": losses}


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    paths = {k: Path(v) for k, v in json.loads(args.paths).items()}
    run = jaforge_run if args.worker == "jaforge" else trl_run
    result = run(paths, args.warmup + args.steps, args.warmup, args.preset, args.log_every)
    print(json.dumps({**result, "max_rss_mb": peak_rss_mb(), "peak_gpu_gib": peak_gpu_gib()}))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed_run(tool: str, paths: dict, steps: int, warmup: int, args: argparse.Namespace,
              log_every: int | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", tool, "--steps", str(steps), "--warmup", str(warmup),
               "--threads", str(args.threads), "--preset", args.preset,
               "--log-every", str(log_every or PRESETS[args.preset]["log_every"]),
               "--paths", json.dumps({k: str(v) for k, v in paths.items()})]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_answers(paths: dict, args: argparse.Namespace, steps: int = 5) -> dict:
    ours = timed_run("jaforge", paths, steps, 0, args, log_every=1)["losses"]
    theirs = timed_run("trl", paths, steps, 0, args, log_every=1)["losses"]
    diff = max(abs(a - b) for a, b in zip(ours, theirs)) if len(ours) == len(theirs) else float("inf")
    tolerance = PRESETS[args.preset]["tolerance"]
    return {"jaforge_losses": ours, "trl_losses": theirs, "max_loss_diff": diff,
            "tolerance": tolerance, "ok": diff <= tolerance}


def timed_tokens(paths: dict[str, Path], warmup: int, steps: int, preset: str) -> int:
    """Real (not padding) tokens of the batches of the timed steps."""
    from jaforge.sft.dataset import prepare_data
    from jaforge.sft.encoding import TextEncoder

    batch = PRESETS[preset]["batch"]
    rows = prepare_data(sft_config(paths, preset).data, TextEncoder.from_dir(paths["tokenizer"])).rows
    return sum(len(rows[i % len(rows)].ids) for i in range(warmup * batch, (warmup + steps) * batch))


def machine(threads: int, device: str) -> dict[str, Any]:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    info = {"nproc": os.cpu_count(), "cpu": cpu, "threads_per_run": threads, "torch": torch.__version__,
            "load_average": os.getloadavg()}
    if device.startswith("cuda"):
        sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu"))
        from common import machine as gpu_machine

        info.update(gpu_machine("cuda:0"))
    return info


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 3 timed steps")
    parser.add_argument("--tiny", action="store_true", help="the GPU setup's code path on the CPU")
    parser.add_argument("--device", default="auto", help="auto: the GPU setup where CUDA is present")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=None)
    parser.add_argument("--worker"), parser.add_argument("--paths"), parser.add_argument("--preset")
    parser.add_argument("--log-every", type=int, default=None, help="both tools read the loss this often")
    args = parser.parse_args()
    if args.worker:
        return args
    import torch

    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    args.preset = "gpu-tiny" if args.tiny else "gpu" if gpu else "cpu"
    cpu_defaults, gpu_defaults = (3, 10, 2), (1, 20, 10)  # rounds, steps, warm-up (GPU: multiples of 10)
    defaults = gpu_defaults if args.preset != "cpu" else (1, 3, 1) if args.quick else cpu_defaults
    for name, value in zip(("rounds", "steps", "warmup"), defaults):
        setattr(args, name, getattr(args, name) if getattr(args, name) is not None else value)
    if args.log_every:
        PRESETS[args.preset]["log_every"] = args.log_every
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(args)
    import peft
    import transformers
    import trl

    preset = PRESETS[args.preset]
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare(Path(tmp), args.preset)
        tokens_timed = timed_tokens(paths, args.warmup, args.steps, args.preset)
        check = same_answers(paths, args)
        if not check["ok"]:
            raise SystemExit(f"the loss curves differ beyond {preset['tolerance']}: {check}")
        tools = ["jaforge", "trl"]
        runs: dict[str, list] = {t: [] for t in tools}
        for r in range(args.rounds):
            for tool in tools[r % 2:] + tools[:r % 2]:
                runs[tool].append(timed_run(tool, paths, args.steps, args.warmup, args))
    seconds = {t: [x["seconds"] for x in runs[t]] for t in tools}
    median = {t: statistics.median(seconds[t]) for t in tools}
    tokens_per_s = {t: tokens_timed / median[t] for t in tools}
    ratio = ratio_stats(seconds["trl"], seconds["jaforge"])
    inputs = {"setup": args.preset, "model": preset["model"], "lora": "r=8 alpha=16 q/k/v/o",
              "batch": preset["batch"], "seq_len": preset["seq_len"], "precision": preset["precision"],
              "data": "data/sft/dolly_ja.jsonl + chat.jsonl, alpaca_ja, response-only loss, padding",
              "log_every": preset["log_every"], "steps_timed": args.steps, "tokens_timed": tokens_timed,
              "warmup_steps": args.warmup, "rounds": args.rounds}
    summary = {"benchmark": "sft" if args.preset == "cpu" else "sft-gpu",
               "peer": f"trl {trl.__version__} + peft {peft.__version__} (transformers {transformers.__version__})",
               "same_answers": check["ok"], "ratio_median": ratio["median"], "ratio_min": ratio["min"],
               "ratio_max": ratio["max"], "inputs": inputs}
    memory = {t: {"max_rss_mb": max(x["max_rss_mb"] for x in runs[t]),
                  "peak_gpu_gib": max(x.get("peak_gpu_gib", 0.0) for x in runs[t])} for t in tools}
    print(f"{'tool':<8} {'median s':>9} {'tokens/s':>9} {'peak RSS MB':>12} {'peak GPU GiB':>13}")
    for t in tools:
        print(f"{t:<8} {median[t]:>9.2f} {tokens_per_s[t]:>9.0f} {memory[t]['max_rss_mb']:>12.0f} "
              f"{memory[t]['peak_gpu_gib']:>13.1f}")
    print(f"ratio trl/jaforge: median {ratio['median']:.2f} (min {ratio['min']:.2f}, max {ratio['max']:.2f}); "
          f"max loss diff over 5 steps {check['max_loss_diff']:.2e}")
    results = Path(args.results) if args.results else REPO / "benchmarks" / "results" / preset["results"]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({**summary, "check": check, "seconds": seconds, "tokens_per_s": tokens_per_s,
                                   "memory": memory, "max_rss_mb": {t: memory[t]["max_rss_mb"] for t in tools},
                                   "machine": machine(args.threads, preset["device"])}, indent=1),
                       encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
