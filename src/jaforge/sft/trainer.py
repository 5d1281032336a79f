"""The sft loop: `jaforge sft` (LoRA or full tuning; SFT or DPO), resumable like pretraining.

    jaforge sft --config recipes/sft-tiny.yaml
    python -m jaforge.sft.trainer --config recipes/sft-tiny.yaml     # the same, without the CLI

Steps take consecutive batches of the deterministic training rows (cycling when max_steps asks for
more), split into micro-batches whose summed losses are divided by the step's target count.
Optimisers and schedules are the pretrain stage's. Before training and after it the held-out
response perplexity (and preference accuracy, task scores) and a few greedy generations are
measured; `results.md` / `results.json` hold the before/after table. A run killed at any step and
started again with the same command logs the same losses, bit for bit (CPU).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from jaforge.config import save_config
from jaforge.sft.checkpoint import load_sft_checkpoint, save_sft_checkpoint
from jaforge.sft.config import SFTConfig
from jaforge.sft.dataset import SFTData, prepare_data, template_context
from jaforge.sft.encoding import TextEncoder, collate, pad_rows
from jaforge.sft.evaluate import generate, measure, task_scores, write_results
from jaforge.sft.objectives import count_targets, dpo_loss, response_logprobs, token_loss
from jaforge.sft.templates import prompt_text
from jaforge.train.checkpoint import resolve_resume
from jaforge.train.host_memory import keep_freed_memory
from jaforge.train.metrics import MetricsLog
from jaforge.train.optim import build_optimizer
from jaforge.train.schedule import LRSchedule
from jaforge.train.trainer import seed_everything

log = logging.getLogger(__name__)


@dataclass
class SFTResult:
    output_dir: str
    steps: int
    loss: Optional[float]
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    generations: list = field(default_factory=list)

    def markdown(self) -> str:
        """The run's results.md: before/after table, data per source, generations."""
        return (Path(self.output_dir) / "results.md").read_text("utf-8")


def find_tokenizer(cfg: SFTConfig, model_dir: Path) -> Path:
    """`cfg.tokenizer`, else the first of model dir, its parents and their tokenizer/ folders
    holding tokenizer.json (a lifecycle run keeps it in <run>/tokenizer)."""
    if cfg.tokenizer:
        return Path(cfg.tokenizer)
    for candidate in (model_dir, model_dir.parent, model_dir.parent / "tokenizer",
                      model_dir.parent.parent / "tokenizer", model_dir.parent.parent.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    raise FileNotFoundError(f"no tokenizer.json beside {model_dir}; set tokenizer: <dir>")


def build_model(cfg: SFTConfig) -> tuple[torch.nn.Module, Any, str, Path]:
    """The base model (jaforge or HF Llama dir) made tunable: LoRA layers or every weight."""
    from jaforge.train.continual import find_model_dir, load_base

    seed_everything(cfg.trainer.seed)
    if cfg.trainer.keep_host_memory:
        keep_freed_memory()
    kind, model_dir = find_model_dir(cfg.model)
    model, model_cfg = load_base(model_dir)
    if cfg.method == "lora":
        from jaforge.sft.lora import add_lora

        add_lora(model, cfg.lora)
    return model, model_cfg, kind, model_dir


@dataclass
class Loop:
    cfg: SFTConfig
    model: torch.nn.Module
    data: SFTData
    encoder: TextEncoder
    optimizer: Any
    schedule: LRSchedule
    steps: int
    reference: Any = None

    def rows(self, step: int) -> list:
        b = self.cfg.trainer.batch_size
        return [self.data.rows[(step * b + i) % len(self.data.rows)] for i in range(b)]

    def micro_batches(self, rows: list) -> list[list]:
        m = min(self.cfg.trainer.micro_batch_size, len(rows))
        return [rows[i:i + m] for i in range(0, len(rows), m)]


def sft_step(loop: Loop, rows: list) -> dict:
    pad, packed = loop.encoder.pad_id, loop.cfg.data.packing
    batches = [collate(chunk, pad, packed) for chunk in loop.micro_batches(rows)]
    n_targets = sum(count_targets(b["labels"]) for b in batches)
    total = 0.0
    for batch in batches:
        loss = token_loss(loop.model, batch, n_targets)
        loss.backward()
        total += loss.item()
    return {"loss": total, "targets": n_targets}


def dpo_step(loop: Loop, rows: list) -> dict:
    total, stats = 0.0, {"reward_accuracy": 0.0, "reward_margin": 0.0}
    for chunk in loop.micro_batches(rows):
        chosen = collate(pad_rows([p.chosen for p in chunk]), loop.encoder.pad_id, False)
        rejected = collate(pad_rows([p.rejected for p in chunk]), loop.encoder.pad_id, False)
        loss, part = dpo_loss(loop.model, loop.reference, chosen, rejected, loop.cfg.dpo.beta)
        (loss * len(chunk) / len(rows)).backward()
        total += loss.item() * len(chunk) / len(rows)
        for key in stats:
            stats[key] += part[key] * len(chunk) / len(rows)
    return {"loss": total, **stats}


def train_step(loop: Loop, step: int) -> dict:
    loop.model.train()
    loop.schedule.apply(loop.optimizer, step)
    rows = loop.rows(step)
    row = (dpo_step if loop.cfg.objective == "dpo" else sft_step)(loop, rows)
    clip = loop.cfg.trainer.grad_clip if loop.cfg.trainer.grad_clip > 0 else math.inf
    trainable = [p for p in loop.model.parameters() if p.requires_grad]
    grad_norm = torch.nn.utils.clip_grad_norm_(trainable, clip)
    loop.optimizer.step()
    loop.optimizer.zero_grad(set_to_none=True)
    return {"step": step + 1, **row, "lr": loop.optimizer.param_groups[0]["lr"],
            "grad_norm": float(grad_norm)}


def reference_fn(cfg: SFTConfig, model: torch.nn.Module):
    """The frozen reference of DPO: the base (LoRA disabled), or a frozen copy in full tuning."""
    if cfg.objective != "dpo":
        return None
    if cfg.method == "lora":
        from jaforge.sft.lora import disabled_adapters

        def lora_reference(batch: dict) -> torch.Tensor:
            with disabled_adapters(model):
                return response_logprobs(model, batch)
        return lora_reference
    import copy

    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    return lambda batch: response_logprobs(frozen, batch)


def snapshot(loop: Loop, prompts: list[str]) -> tuple[dict, list[str]]:
    """Held-out scores and greedy generations of the model as it is now."""
    e = loop.cfg.eval
    scores = measure(loop.model, loop.data.held_out, loop.encoder.pad_id, e.batch_size)
    answers = generate(loop.model, loop.encoder, prompts, e.max_new_tokens) if prompts else []
    return scores, answers


def generation_examples(loop: Loop) -> list:
    held = [e for examples in loop.data.held_out_examples.values() for e in examples]
    return held[:loop.cfg.eval.generations]


def resume_step(loop: Loop) -> int:
    path = resolve_resume(loop.cfg.trainer.resume, loop.cfg.output_dir)
    if path is None:
        return 0
    state = load_sft_checkpoint(path, loop.model)
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.schedule.load_state_dict(state["schedule"])
    log.info("resumed from %s at step %d", path, state["step"])
    return int(state["step"])


def build_loop(cfg: SFTConfig) -> tuple[Loop, str, Path, Path]:
    model, model_cfg, kind, model_dir = build_model(cfg)
    tokenizer_dir = find_tokenizer(cfg, model_dir)
    encoder = TextEncoder.from_dir(tokenizer_dir)
    data = prepare_data(cfg.data, encoder, cfg.objective)
    if cfg.data.seq_len > model_cfg.max_seq_len:
        raise ValueError(f"data.seq_len {cfg.data.seq_len} exceeds the model's max_seq_len {model_cfg.max_seq_len}")
    optimizer = build_optimizer(model, cfg.optim)
    steps = cfg.trainer.max_steps or math.ceil(len(data.rows) / cfg.trainer.batch_size)
    loop = Loop(cfg, model, data, encoder, optimizer, LRSchedule(cfg.schedule, steps), steps,
                reference_fn(cfg, model))
    return loop, kind, model_dir, tokenizer_dir


def train(cfg: SFTConfig) -> SFTResult:
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    loop, kind, model_dir, tokenizer_dir = build_loop(cfg)
    _write_json(out / "data_report.json", loop.data.report)
    start = resume_step(loop)
    examples = generation_examples(loop)
    ctx = template_context(cfg.data, loop.encoder)
    prompts = [prompt_text(cfg.data.template, e, ctx) for e in examples]
    before = _before(loop, out, prompts, start, tokenizer_dir)
    columns = ["step", "loss", "lr", "grad_norm", "targets", "reward_accuracy", "reward_margin", "val_ppl"]
    metrics = MetricsLog(out, columns, start)
    row: dict = {}
    bar = _progress(cfg, loop.steps, start)
    for step in range(start, loop.steps):
        row = train_step(loop, step)
        if cfg.trainer.eval_every and (row["step"] % cfg.trainer.eval_every == 0 or row["step"] == loop.steps):
            row["val_ppl"] = measure(loop.model, loop.data.held_out, loop.encoder.pad_id,
                                     cfg.eval.batch_size).get("ppl")
        if row["step"] % cfg.trainer.log_every == 0 or row["step"] == loop.steps:
            metrics.log(row)
        if row["step"] % cfg.trainer.checkpoint_every == 0 or row["step"] == loop.steps:
            save_sft_checkpoint(out, row["step"], loop.model, {
                "optimizer": loop.optimizer.state_dict(), "schedule": loop.schedule.state_dict()},
                cfg.trainer.keep_last)
        if bar is not None:
            bar.set_postfix({"loss": f"{row['loss']:.3f}"}, refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    metrics.close()
    save_outputs(loop, out, kind, model_dir, tokenizer_dir)
    after, answers = snapshot(loop, prompts)
    after.update(task_scores(loop.model, tokenizer_dir, cfg.eval.tasks, cfg.eval.shots, cfg.eval.task_limit))
    generations = [{"instruction": e.messages[-2].content, "prompt": p, "before": b, "after": a,
                    "reference": e.messages[-1].content}
                   for e, p, b, a in zip(examples, prompts, before["generations"], answers)]
    write_results(out, before["scores"], after, generations, loop.data.report)
    return SFTResult(str(out), loop.steps, row.get("loss"), before["scores"], after, generations)


def _before(loop: Loop, out: Path, prompts: list[str], start: int, tokenizer_dir: Path) -> dict:
    """Scores of the untuned model, measured once (a resumed run reads them back)."""
    path = out / "before.json"
    if start > 0 and path.exists():
        return json.loads(path.read_text("utf-8"))
    scores, answers = snapshot(loop, prompts)
    e = loop.cfg.eval
    scores.update(task_scores(loop.model, tokenizer_dir, e.tasks, e.shots, e.task_limit))
    before = {"scores": scores, "generations": answers}
    _write_json(path, before)
    return before


def save_outputs(loop: Loop, out: Path, kind: str, model_dir: Path, tokenizer_dir: Path) -> Path:
    """LoRA: adapter/ (PEFT layout, HF names), plus merged/ and merged-hf/ when asked;
    full: model/ (jaforge) and hf/. Returns the adapter or model directory."""
    from jaforge.model.checkpoint import save_model

    cfg = loop.cfg
    if cfg.method == "lora":
        from jaforge.sft.lora import save_adapter

        base = str(model_dir) if kind == "hf" else ""
        save_adapter(loop.model, cfg.lora, out / "adapter", base=base)
        if not cfg.merge:
            return out / "adapter"
        from jaforge.sft.merge import merged_copy

        model = merged_copy(loop.model)
        target = out / "merged"
    else:
        model, target = loop.model, out / "model"
    save_model(model, model.config, target)
    _export_hf(model, target.parent / f"{target.name}-hf" if cfg.method == "lora" else out / "hf",
               tokenizer_dir)
    return target


def _export_hf(model: torch.nn.Module, out_dir: Path, tokenizer_dir: Path) -> None:
    from jaforge.model.hf import HFExportError, export_hf

    try:
        export_hf(model, model.config, out_dir, tokenizer_dir=tokenizer_dir)
    except HFExportError as err:
        log.warning("no Hugging Face export: %s", err)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def _progress(cfg: SFTConfig, total: int, start: int):
    if not cfg.trainer.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m jaforge.sft.trainer --config F.yaml [--a.b v …]`, the same as `jaforge sft`."""
    import sys

    from jaforge.config import load_config
    from jaforge.train.trainer import command_line_options

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = command_line_options(list(sys.argv[1:] if argv is None else argv))
    config = next((v for k, v in options if k == "config"), None)
    result = train(load_config(SFTConfig, config, [(k, v) for k, v in options if k != "config"]))
    print(result.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
