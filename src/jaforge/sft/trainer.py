"""The sft stage on the shared training loop: `jaforge sft` (LoRA or full tuning; SFT or DPO).

    jaforge sft --config recipes/sft-tiny.yaml
    jaforge sft --config recipes/sft-tiny.yaml --trainer.device cuda --trainer.precision bf16

What instruction tuning adds to `jaforge.train.loop`: the base model (jaforge or Hugging Face
Llama dir) made tunable (LoRA layers or every weight), the data (consecutive batches of the
deterministic training rows, cycling when max_steps asks for more; packed or padded), the
objective (token loss over the step's target tokens, or DPO against the frozen base), held-out
response perplexity, and the outputs (a PEFT adapter or a model, merged and HF exports with chat
template and model card: jaforge.sft.outputs; the before/after tables in results.md). Device, precision, compile and resuming are the loop's, so a
run killed at any step and started again logs the same losses, bit for bit (CPU).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from jaforge.errors import ConfigError, InputError
from jaforge.io.atomic import write_json
from jaforge.sft.config import SFTConfig
from jaforge.sft.dataset import SFTData, prepare_data, template_context
from jaforge.sft.encoding import TextEncoder, collate, pad_rows
from jaforge.sft.evaluate import generate, measure, task_scores, write_results
from jaforge.sft.lora import add_lora, disabled_adapters
from jaforge.sft.objectives import (
    count_targets,
    dpo_loss,
    pair_batch,
    response_logprobs,
    target_positions,
    token_loss,
)
from jaforge.sft.outputs import BaseModel, check_card, save_outputs
from jaforge.sft.templates import prompt_text
from jaforge.stage_result import StageResult
from jaforge.train.continual import find_model_dir, load_base
from jaforge.train.device import peak_memory_mb
from jaforge.train.distributed import ProcessInfo
from jaforge.train.loop import TrainingLoop
from jaforge.train.state_files import read_tensors
from jaforge.train.task import StepData, Task

log = logging.getLogger(__name__)
WEIGHTS = "trainable.safetensors"


def run(cfg: SFTConfig) -> StageResult:
    """Tune (or resume) the run in `cfg.output_dir`."""
    check_card(cfg)
    return TrainingLoop(SFTTask(cfg)).run()


def find_tokenizer(cfg: SFTConfig, model_dir: Path) -> Path:
    """`cfg.tokenizer`, else the first of model dir, its parents and their tokenizer/ folders
    holding tokenizer.json (a lifecycle run keeps it in <run>/tokenizer)."""
    if cfg.tokenizer:
        return Path(cfg.tokenizer)
    for candidate in (model_dir, model_dir.parent, model_dir.parent / "tokenizer",
                      model_dir.parent.parent / "tokenizer", model_dir.parent.parent.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    raise ConfigError(f"tokenizer: no tokenizer.json beside {model_dir}; set tokenizer: <dir>")


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def load_tunable(cfg: SFTConfig) -> tuple[torch.nn.Module, str, Path]:
    """The base model (jaforge or HF Llama dir) made tunable: LoRA layers or every weight."""
    kind, model_dir = find_model_dir(cfg.model, key="model")
    model, _ = load_base(model_dir, key="model")
    if cfg.method == "lora":
        add_lora(model, cfg.lora)
    return model, kind, model_dir


class SFTTask(Task):
    stage = "sft"

    def __init__(self, cfg: SFTConfig):
        super().__init__(cfg)
        self.columns = ["tokens", "targets", "reward_accuracy", "reward_margin", "val_ppl"]
        self.reference: Optional[Callable[[dict], torch.Tensor]] = None
        self.frozen: Optional[torch.nn.Module] = None

    def build(self, info: ProcessInfo) -> torch.nn.Module:
        cfg = self.cfg
        if info.distributed:
            raise ConfigError("jaforge sft runs on one process; start it without torchrun")
        self.kind, self.model_dir = find_model_dir(cfg.model, key="model")
        self.tokenizer_dir = find_tokenizer(cfg, self.model_dir)
        self.encoder = TextEncoder.from_dir(self.tokenizer_dir)
        self.data: SFTData = prepare_data(cfg.data, self.encoder, cfg.objective)  # data errors first
        model = load_tunable(cfg)[0]
        if cfg.data.seq_len > model.config.max_seq_len:
            raise ConfigError(f"data.seq_len {cfg.data.seq_len} exceeds the model's max_seq_len "
                              f"{model.config.max_seq_len}")
        self.reference = self._reference(model)
        self.token_sums = list(accumulate((self._length(r) for r in self.data.rows), initial=0))
        return model

    @staticmethod
    def _length(row: Any) -> int:
        return len(row.chosen.ids) + len(row.rejected.ids) if hasattr(row, "chosen") else len(row.ids)

    def tokens_through(self, steps: int) -> int:
        """Tokens of the rows the first `steps` steps train on (rows cycle when steps ask for more)."""
        drawn, n = steps * self.cfg.trainer.batch_size, len(self.data.rows)
        return drawn // n * self.token_sums[-1] + self.token_sums[drawn % n]

    def _reference(self, model: torch.nn.Module) -> Optional[Callable[[dict], torch.Tensor]]:
        """DPO's frozen reference: the base with LoRA disabled, or (full tuning) a frozen copy of
        the model as loaded (taken before a resume loads trained weights)."""
        if self.cfg.objective != "dpo":
            return None
        if self.cfg.method == "lora":
            def lora_reference(batch: dict) -> torch.Tensor:
                with disabled_adapters(model):
                    return response_logprobs(model, batch)
            return lora_reference
        self.frozen = copy.deepcopy(model).eval().requires_grad_(False)
        return lambda batch: response_logprobs(self.frozen, batch)

    def total_steps(self) -> int:
        return self.cfg.trainer.max_steps or math.ceil(len(self.data.rows) / self.cfg.trainer.batch_size)

    def rows(self, step: int) -> list:
        b, rows = self.cfg.trainer.batch_size, self.data.rows
        return [rows[(step * b + i) % len(rows)] for i in range(b)]

    def step_data(self, step: int, info: ProcessInfo) -> StepData:
        rows = self.rows(step)
        m = min(self.cfg.trainer.micro_batch_size, len(rows))
        chunks = [rows[i:i + m] for i in range(0, len(rows), m)]
        pad = self.encoder.pad_id
        if self.cfg.objective == "dpo":
            batches = [{**pair_batch(collate(pad_rows([p.chosen for p in c]), pad, False),
                                     collate(pad_rows([p.rejected for p in c]), pad, False)),
                        "weight": len(c) / len(rows)} for c in chunks]
            for batch in batches:
                batch.update(target_positions(batch["labels"]))
            tokens = sum(len(p.chosen.ids) + len(p.rejected.ids) for p in rows)
            return StepData(batches, {"tokens": self.tokens_through(step + 1)}, tokens)
        batches = [collate(c, pad, self.cfg.data.packing) for c in chunks]
        n_targets = sum(count_targets(b["labels"]) for b in batches)
        for batch in batches:
            batch.update(target_positions(batch["labels"]), n_targets=n_targets)
        return StepData(batches, {"tokens": self.tokens_through(step + 1), "targets": n_targets},
                        sum(len(r.ids) for r in rows))

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
        if self.cfg.objective != "dpo":
            return token_loss(model, batch, batch["n_targets"]), {}
        loss, stats = dpo_loss(model, self.reference, batch, self.cfg.dpo.beta)
        return loss * batch["weight"], {k: v * batch["weight"] for k, v in stats.items()}

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        return {"val_ppl": measure(model, self.data.held_out, self.encoder.pad_id,
                                   self.cfg.eval.batch_size).get("ppl")}

    def save_weights(self, model: torch.nn.Module, directory: Path) -> None:
        from safetensors.torch import save_file

        save_file(trainable_state(model), str(directory / WEIGHTS))

    def load_weights(self, model: torch.nn.Module, directory: Path) -> None:
        path = directory / WEIGHTS
        weights = read_tensors(path, "the trained weights of an sft checkpoint")
        expected = set(trainable_state(model))
        if set(weights) != expected:
            missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
            raise InputError(path, f"does not fit this run's trainable weights: missing {missing[:5]}, "
                                   f"unexpected {unexpected[:5]}")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, tensor in weights.items():
                params[name].copy_(tensor)

    # --- before and after ------------------------------------------------------------------------

    def begin(self, loop: TrainingLoop) -> None:
        write_json(Path(self.cfg.output_dir) / "data_report.json", self.data.report)
        if self.frozen is not None:
            self.frozen.to(loop.device)
        examples = [e for ex in self.data.held_out_examples.values() for e in ex][:self.cfg.eval.generations]
        self.ctx = template_context(self.cfg.data, self.encoder)
        self.examples = examples
        self.prompts = [prompt_text(self.cfg.data.template, e, self.ctx) for e in examples]
        self.before = self._before(loop)

    def snapshot(self, loop: TrainingLoop) -> tuple[dict, list[str]]:
        """Held-out scores, task scores and greedy generations of the model as it is now."""
        e = self.cfg.eval
        with torch.no_grad(), loop.autocast():
            scores = measure(loop.raw, self.data.held_out, self.encoder.pad_id, e.batch_size)
            answers = generate(loop.raw, self.encoder, self.prompts, e.max_new_tokens) if self.prompts else []
        scores.update(task_scores(loop.raw, self.tokenizer_dir, e.tasks, e.shots, e.task_limit))
        return scores, answers

    def _before(self, loop: TrainingLoop) -> dict:
        """Scores of the untuned model, measured once (a resumed run reads them back)."""
        path = Path(self.cfg.output_dir) / "before.json"
        if loop.start > 0 and path.exists():
            return json.loads(path.read_text("utf-8"))
        scores, answers = self.snapshot(loop)
        before = {"scores": scores, "generations": answers}
        write_json(path, before)
        return before

    def finish(self, loop: TrainingLoop, last: dict[str, Any]) -> StageResult:
        out = Path(self.cfg.output_dir)
        after, answers = self.snapshot(loop)
        generations = [{"instruction": e.messages[-2].content, "prompt": p, "before": b, "after": a,
                        "reference": e.messages[-1].content}
                       for e, p, b, a in zip(self.examples, self.prompts, self.before["generations"], answers)]
        write_results(out, self.before["scores"], after, generations, self.data.report)
        with loop.savable_model() as model:
            outputs = save_outputs(self.cfg, model, BaseModel(self.kind, self.model_dir, self.tokenizer_dir),
                                   self.ctx)
        metrics = {"loss": last.get("loss"), "steps": loop.steps,
                   "tokens": self.data.report["total"]["tokens"], **loop.params,
                   **{f"{k}_before": v for k, v in self.before["scores"].items()},
                   **{f"{k}_after": v for k, v in after.items()}, **peak_memory_mb(loop.device)}
        outputs.update(checkpoints=str(out / "checkpoints"), metrics=str(out / "metrics.jsonl"),
                       results=str(out / "results.md"))
        return StageResult("sft", str(out), outputs=outputs, metrics=metrics,
                           summary=(out / "results.md").read_text("utf-8"))
