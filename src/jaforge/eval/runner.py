"""The eval stage: k-shot tasks and groups on one model; results.json, samples.jsonl, results.md.

    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[japanese_leaderboard]'
    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[jnli,jsts,safety_ja]' --shots 3

    from jaforge.eval import EvalConfig, run, load_backend, evaluate_tasks
    result = run(EvalConfig(model="runs/lifecycle-tiny/pretrain", output_dir="runs/eval"))
    print(result.markdown()); result.metrics["japanese_leaderboard"]
    report = evaluate_tasks(load_backend("runs/lifecycle-tiny/hf"), ["jnli"], shots=3)

Every task's data is read and checked before the model loads; a group's score is the unweighted
mean of its tasks' headline metrics (lm-eval's japanese_leaderboard average).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

from jaforge.config import validate
from jaforge.errors import ConfigError, InputError
from jaforge.eval.backends import Backend
from jaforge.eval.config import EvalConfig, GenerationConfig
from jaforge.eval.generation import generate
from jaforge.eval.loading import load_backend
from jaforge.eval.metrics import choice_metrics, correlations, expected_score, predictions
from jaforge.eval.prompts import Prompt, build_prompts
from jaforge.eval.safety import evaluate_safety
from jaforge.eval.scoring import batched_continuation_logprobs, encode_choices
from jaforge.eval.tasks import GROUPS, TASKS, Task, expand, groups_of, load_docs, load_task_data
from jaforge.eval.templates import get_template
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    samples: list[dict]
    n_examples: int
    seconds: float
    shots: int = 0
    split: str = ""
    headline: str = ""
    data: str = ""
    """The file evaluated."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Records left out, by reason."""
    breakdown: dict = field(default_factory=dict)
    """Per-category figures (safety_ja)."""

    @property
    def score(self) -> float:
        return self.metrics[self.headline]


@dataclass
class EvalReport:
    model: str
    template: str
    shots: Optional[int]
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)
    """Group name → unweighted mean of its tasks' headline metrics."""

    def results(self) -> dict:
        """results.json's content."""
        return {"model": self.model, "template": self.template, "shots": self.shots,
                "results": {name: {"n": r.n_examples, "shots": r.shots, "split": r.split, "data": r.data,
                                   "seconds": round(r.seconds, 3), "headline": r.headline, **r.metrics,
                                   **({"dropped": r.dropped} if r.dropped else {}),
                                   **({"breakdown": r.breakdown} if r.breakdown else {})}
                            for name, r in self.tasks.items()},
                "groups": {name: {"score": score, "tasks": list(GROUPS.get(name))}
                           for name, score in self.groups.items()}}

    def scores(self) -> dict[str, float]:
        """Headline score of every task and group (StageResult metrics)."""
        return {**{name: r.score for name, r in self.tasks.items()}, **self.groups}

    def markdown(self) -> str:
        lines = [f"Model `{self.model}`, template `{self.template}`", "",
                 "| task | split | n | shots | metric | score | other metrics |",
                 "|---|---|---:|---:|---|---:|---|"]
        for name, r in self.tasks.items():
            others = ", ".join(f"{m} {v:.4f}" for m, v in r.metrics.items() if m != r.headline)
            lines.append(f"| {name} | {r.split} | {r.n_examples} | {r.shots} | {r.headline} | "
                         f"{r.score:.4f} | {others} |")
        for name, score in self.groups.items():
            lines.append(f"| **{name}** | | | | mean of {len(GROUPS.get(name))} | **{score:.4f}** | |")
        for name, r in self.tasks.items():
            if r.breakdown:
                lines += ["", f"{name} by category:", "", "| category | harmful | refusal rate | benign | "
                          "over-refusal rate |", "|---|---:|---:|---:|---:|"]
                lines += [f"| {c} | {b['harmful']} | {b['refusal_rate']:.3f} | {b['benign']} | "
                          f"{b['over_refusal_rate']:.3f} |" for c, b in r.breakdown.items()]
        return "\n".join(lines) + "\n"


@dataclass
class PreparedTask:
    """A task's examples, shots pool and settings, read before any model runs."""
    task: Task
    split: str
    shots: int
    docs: list[dict]
    pool: list[dict]
    data: str
    dropped: dict[str, int]


def task_shots(task: Task, shots: Optional[int]) -> int:
    """The configured shots, or the leaderboard's; 0 for a task without a few-shot split."""
    if task.fewshot_split is None:
        return 0
    return task.shots if shots is None else shots


def prepare_tasks(names: Sequence[str], shots: Optional[int] = None, template: str = "leaderboard",
                  data_dir: Optional[str] = None, split: Optional[str] = None,
                  limit: Optional[int] = None) -> list[PreparedTask]:
    """Read and check every task's files; fail on a config the tasks cannot meet."""
    prepared = []
    for name in expand(names):
        task = TASKS.get(name)
        if task.kind != "safety":
            template_of(template, name)
        k = task_shots(task, shots)
        data = load_task_data(task, split or task.eval_split, data_dir)
        pool = load_docs(task, task.fewshot_split, data_dir) if k > 0 else []
        if k > len(pool):
            raise ConfigError(f"eval config key 'shots': {k} shots for {name}, but its few-shot "
                              f"split has {len(pool)} examples")
        if not data.docs:
            raise InputError(data.path, f"holds no {name} examples to evaluate")
        prepared.append(PreparedTask(task, split or task.eval_split, k, data.docs[:limit], pool,
                                     str(data.path), data.reasons))
    return prepared


def template_of(template: str, task: str):
    try:
        return get_template(template, task)
    except KeyError as err:
        raise ConfigError(f"eval config key 'template': {err.args[0]}") from None


def evaluate_choice_task(backend: Backend, prepared: PreparedTask, prompts: list[Prompt],
                         batch_size: int) -> tuple[dict, list[dict]]:
    requests = [encode_choices(backend.tokenizer, p.context, p.continuations) for p in prompts]
    logliks = batched_continuation_logprobs(backend, requests, batch_size)
    golds = [p.doc["label"] for p in prompts]
    metrics = choice_metrics(logliks, [p.choices for p in prompts], golds)
    raw, norm = predictions(logliks, [p.choices for p in prompts])
    samples = [{"task": prepared.task.name, "id": p.doc.get("id"), "prompt": p.context, "choices": p.choices,
                "loglik": ll, "prediction": pred, "prediction_norm": pn, "gold": p.doc["label"]}
               for p, ll, pred, pn in zip(prompts, logliks, raw, norm)]
    if prepared.task.rating_values:
        rated = [expected_score(ll, prepared.task.rating_values) for ll in logliks]
        metrics = {**correlations(rated, [p.doc["score"] for p in prompts]), "acc": metrics["acc"]}
        for sample, rating, p in zip(samples, rated, prompts):
            sample.update(rating=rating, score=p.doc["score"])
    return metrics, samples


def evaluate_generation_task(backend: Backend, prepared: PreparedTask, prompts: list[Prompt],
                             template: str, generation: GenerationConfig,
                             batch_size: int) -> tuple[dict, list[dict]]:
    cfg = task_generation(generation, template_of(template, prepared.task.name).stop)
    outputs = generate(backend, [p.context for p in prompts], cfg, batch_size)
    samples, names = [], {}
    for p, text in zip(prompts, outputs):
        gold = p.doc["answer_number"] if "answer_number" in p.doc else p.doc["answers"][0]
        scores = prepared.task.score(text, p.doc)
        names.update(dict.fromkeys(scores))
        samples.append({"task": prepared.task.name, "id": p.doc.get("id"), "prompt": p.context,
                        "prediction": text, "gold": gold, **scores})
    metrics = {m: math.fsum(s[m] for s in samples) / len(samples) for m in names}
    if prepared.task.aggregate is not None:
        metrics = {**prepared.task.aggregate(samples), **metrics}
    return metrics, samples


def capped_generation(backend: Backend, generation: GenerationConfig) -> GenerationConfig:
    """A token budget that leaves no room for the prompt (lm-eval refuses it) capped at half the
    model's window, said once per run; any other budget is kept, as lm-eval keeps it."""
    budget = generation.max_new_tokens
    if budget >= backend.max_length:
        budget = backend.max_length // 2
        log.warning("generation.max_new_tokens %d capped at %d, half the model's window",
                    generation.max_new_tokens, budget)
    return replace(generation, max_new_tokens=budget)


def task_generation(generation: GenerationConfig, stops: Sequence[str]) -> GenerationConfig:
    """The decoding of one task: the template's stop strings added."""
    return replace(generation, stop=list(dict.fromkeys([*generation.stop, *stops])))


def evaluate_prepared(backend: Backend, prepared: PreparedTask, template: str, seed: int,
                      stratified: bool, generation: GenerationConfig, batch_size: int) -> TaskResult:
    task, start, breakdown = prepared.task, time.perf_counter(), {}
    if task.kind == "safety":
        metrics, samples, breakdown = evaluate_safety(backend, prepared.docs, generation, batch_size)
    else:
        prompts = build_prompts(prepared.docs, prepared.pool, template_of(template, task.name), prepared.shots,
                                seed, stratified and bool(task.label_names),
                                same_split=prepared.split == task.fewshot_split)
        if task.kind == "choice":
            metrics, samples = evaluate_choice_task(backend, prepared, prompts, batch_size)
        else:
            metrics, samples = evaluate_generation_task(backend, prepared, prompts, template, generation,
                                                        batch_size)
    return TaskResult(task.name, metrics, samples, len(prepared.docs), time.perf_counter() - start,
                      prepared.shots, prepared.split, task.headline, prepared.data, prepared.dropped, breakdown)


def evaluate_tasks(backend: Backend, task_names: Sequence[str], shots: Optional[int] = None,
                   template: str = "leaderboard", data_dir: Optional[str] = None,
                   split: Optional[str] = None, limit: Optional[int] = None, seed: int = 1234,
                   stratified: bool = False, generation: Optional[GenerationConfig] = None,
                   model_name: str = "", batch_size: int = 16) -> EvalReport:
    """Score `task_names` (tasks or groups) on `backend`: metrics and per-example samples."""
    prepared = prepare_tasks(task_names, shots, template, data_dir, split, limit)
    report = EvalReport(model_name, template, shots)
    generation = capped_generation(backend, generation or GenerationConfig(max_new_tokens=256))
    for item in prepared:
        report.tasks[item.task.name] = evaluate_prepared(backend, item, template, seed, stratified,
                                                         generation, batch_size)
    return with_group_scores(report, task_names)


def with_group_scores(report: EvalReport, names: Sequence[str]) -> EvalReport:
    """The report with the unweighted mean headline score of every group in `names`."""
    for group in groups_of(names):
        scores = [report.tasks[name].score for name in GROUPS.get(group)]
        report.groups[group] = math.fsum(scores) / len(scores)
    return report


def write_outputs(report: EvalReport, out: Path) -> dict[str, str]:
    """results.json, samples.jsonl (one line per evaluated example) and results.md."""
    lines = [json.dumps(s, ensure_ascii=False) for r in report.tasks.values() for s in r.samples]
    outputs = {"results": out / "results.json", "samples": out / "samples.jsonl", "table": out / "results.md"}
    write_json(outputs["results"], report.results())
    write_text(outputs["samples"], "\n".join(lines) + "\n")
    write_text(outputs["table"], report.markdown())
    return {name: str(path) for name, path in outputs.items()}


def run(cfg: EvalConfig) -> StageResult:
    """Check the config and every task's data, load the model, score, write the outputs."""
    validate(cfg)
    prepared = prepare_tasks(cfg.tasks, cfg.shots, cfg.template, cfg.data_dir, cfg.split, cfg.limit)
    with open_run(cfg.output_dir, "eval", cfg, resuming=False) as out:
        backend = load_backend(cfg.model, cfg.device, cfg.tokenizer, cfg.dtype, cfg.max_length)
        report = EvalReport(cfg.model, cfg.template, cfg.shots)
        generation = capped_generation(backend, cfg.generation)
        for item in prepared:
            report.tasks[item.task.name] = evaluate_prepared(backend, item, cfg.template, cfg.seed,
                                                             cfg.stratified, generation, cfg.batch_size)
        with_group_scores(report, cfg.tasks)
        result = StageResult("eval", str(out), outputs=write_outputs(report, out),
                             metrics=report.scores(), summary=report.markdown())
        result.write()
    return result
