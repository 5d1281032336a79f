"""The eval stage: k-shot JGLUE tasks on one model; results.json, samples.jsonl, results.md.

    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[jnli,marc_ja]' --shots 3

    from jaforge.eval import EvalConfig, run, load_backend, evaluate_tasks
    report = run(EvalConfig(model="runs/lifecycle-tiny/pretrain", output_dir="runs/eval"))
    print(report.markdown())
    report = evaluate_tasks(load_backend("runs/lifecycle-tiny/hf"), ["jnli"], shots=3)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from jaforge.eval.backends import Backend
from jaforge.eval.config import EvalConfig, GenerationConfig
from jaforge.eval.metrics import choice_metrics, jsquad_scores, predictions
from jaforge.eval.tasks import TASKS, Prompt, Task, build_prompts, load_docs
from jaforge.eval.templates import get_template


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    samples: list[dict]
    n_examples: int
    seconds: float


@dataclass
class EvalReport:
    model: str
    template: str
    shots: int
    tasks: dict[str, TaskResult] = field(default_factory=dict)

    def results(self) -> dict:
        """results.json's content."""
        return {"model": self.model, "template": self.template, "shots": self.shots,
                "results": {name: {"n": r.n_examples, "seconds": round(r.seconds, 3), **r.metrics}
                            for name, r in self.tasks.items()}}

    def markdown(self) -> str:
        """One row per task, one column per metric."""
        metrics = list(dict.fromkeys(m for r in self.tasks.values() for m in r.metrics))
        lines = [f"Model `{self.model}`, template `{self.template}`, {self.shots}-shot", "",
                 "| task | n | " + " | ".join(metrics) + " |",
                 "|---|---:|" + "---:|" * len(metrics)]
        for name, r in self.tasks.items():
            cells = [f"{r.metrics[m]:.4f}" if m in r.metrics else "" for m in metrics]
            lines.append(f"| {name} | {r.n_examples} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def score_choice_prompts(backend: Backend, prompts: Sequence[Prompt], batch_size: int = 16
                         ) -> list[list[float]]:
    """Per-choice log-likelihoods of every prompt, `batch_size` prompts per forward pass."""
    from jaforge.eval.scoring import batched_continuation_logprobs, encode_choices

    requests = [encode_choices(backend.tokenizer, p.context, p.continuations) for p in prompts]
    return batched_continuation_logprobs(backend, requests, batch_size)


def evaluate_choice_task(backend: Backend, task: Task, prompts: list[Prompt],
                         batch_size: int = 16) -> tuple[dict, list[dict]]:
    logliks = score_choice_prompts(backend, prompts, batch_size)
    metrics = choice_metrics(logliks, [p.choices for p in prompts], [p.gold for p in prompts])
    raw, norm = predictions(logliks, [p.choices for p in prompts])
    samples = [{"task": task.name, "id": p.doc.get("id"), "prompt": p.context, "choices": p.choices,
                "loglik": ll, "prediction": pred, "prediction_norm": pn, "gold": p.gold}
               for p, ll, pred, pn in zip(prompts, logliks, raw, norm)]
    return metrics, samples


def evaluate_generation_task(backend: Backend, task: Task, prompts: list[Prompt], template: str,
                             generation: GenerationConfig) -> tuple[dict, list[dict]]:
    from jaforge.eval.generation import generate

    stops = list(dict.fromkeys(list(generation.stop) + list(get_template(template, task.name).stop)))
    cfg = GenerationConfig(**{**generation.__dict__, "stop": stops})
    outputs = generate(backend, [p.context for p in prompts], cfg)
    samples, totals = [], {"exact_match": 0.0, "f1": 0.0}
    for p, text in zip(prompts, outputs):
        # the leaderboard's `remove_whitespace` filter: leading whitespace of the answer dropped
        scores = jsquad_scores(text.lstrip(), p.gold)
        totals = {k: totals[k] + scores[k] for k in totals}
        samples.append({"task": task.name, "id": p.doc.get("id"), "prompt": p.context,
                        "prediction": text, "gold": p.gold, **scores})
    return {k: v / max(1, len(prompts)) for k, v in totals.items()}, samples


def evaluate_tasks(backend: Backend, task_names: Sequence[str], shots: int = 3,
                   template: str = "leaderboard", data_dir: Optional[str] = None,
                   split: str = "valid", limit: Optional[int] = None, seed: int = 1234,
                   stratified: bool = False, generation: Optional[GenerationConfig] = None,
                   model_name: str = "", batch_size: int = 16) -> EvalReport:
    """Score `task_names` on `backend`; returns the report (metrics and per-example samples)."""
    report = EvalReport(model_name, template, shots)
    for name in task_names:
        task = TASKS.get(name)
        docs = load_docs(task, split, data_dir)[:limit]
        pool = load_docs(task, "train", data_dir) if shots > 0 else []
        start = time.perf_counter()
        prompts = build_prompts(task, docs, pool, template, shots, seed, stratified)
        if task.kind == "choice":
            metrics, samples = evaluate_choice_task(backend, task, prompts, batch_size)
        else:
            metrics, samples = evaluate_generation_task(backend, task, prompts, template,
                                                        generation or GenerationConfig(max_new_tokens=32))
        report.tasks[name] = TaskResult(name, metrics, samples, len(prompts), time.perf_counter() - start)
    return report


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_outputs(report: EvalReport, out: Path) -> None:
    """results.json, samples.jsonl (one line per evaluated example) and results.md."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "results.json", json.dumps(report.results(), ensure_ascii=False, indent=1))
    lines = [json.dumps(s, ensure_ascii=False) for r in report.tasks.values() for s in r.samples]
    _atomic_write(out / "samples.jsonl", "\n".join(lines) + "\n")
    _atomic_write(out / "results.md", report.markdown())


def run(cfg: EvalConfig) -> EvalReport:
    """Load the model, score every task, write the outputs and the resolved config."""
    from jaforge.config import save_config
    from jaforge.eval.backends import load_backend

    if cfg.batch_size < 1:
        raise ValueError(f"eval config key 'batch_size' must be at least 1, got {cfg.batch_size}")
    for name in cfg.tasks:
        TASKS.get(name)  # unknown names fail before the model loads
        get_template(cfg.template, name)
    backend = load_backend(cfg.model, cfg.device, cfg.tokenizer, cfg.dtype, cfg.max_length)
    report = evaluate_tasks(backend, cfg.tasks, cfg.shots, cfg.template, cfg.data_dir, cfg.split,
                            cfg.limit, cfg.seed, cfg.stratified, cfg.generation, model_name=cfg.model,
                            batch_size=cfg.batch_size)
    out = Path(cfg.output_dir)
    write_outputs(report, out)
    save_config(cfg, out / "config.yaml")
    return report
