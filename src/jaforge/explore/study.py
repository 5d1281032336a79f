"""A study from start to report: plan trials, run the unfinished ones, collect, analyse, report.

    jaforge explore --config recipes/explore-depth-width.yaml          # run (or resume) the study
    jaforge explore --config … --executor.kind ray                     # the same runs as Ray tasks

Writes into `output_dir`: config.yaml, plan.jsonl (every trial: run id, labels, overrides),
runs/<run-id>/ (one pretrain run each, DONE when finished), results.jsonl, failed.jsonl,
report.md, report.html and plots/. Killed? Run the same command: finished runs are skipped and
unfinished ones resume from their newest checkpoint.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jaforge.config import ConfigError, save_config
from jaforge.explore.config import ExploreConfig
from jaforge.explore.space import Point, Trial, draw_points, resolve_trial
from jaforge.explore.trial import is_done, run_dir, write_json, write_trial

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    output_dir: str
    results: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    """Run ids trained by this call (finished ones from earlier calls are not)."""
    skipped: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    report: str | None = None


def deep_merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _absolute_paths(data: dict) -> dict:
    """Dataset, init and (sft) model, tokenizer and source paths that exist from here become
    absolute (runs may start elsewhere)."""
    for dataset in data.get("data", {}).get("datasets", []) or []:
        if isinstance(dataset, dict) and dataset.get("path") and Path(dataset["path"]).exists():
            dataset["path"] = str(Path(dataset["path"]).resolve())
    for source in data.get("data", {}).get("sources", []) or []:
        if isinstance(source, dict) and source.get("path") and Path(source["path"]).exists():
            source["path"] = str(Path(source["path"]).resolve())
    trainer = data.get("trainer", {})
    if trainer.get("init_from") and Path(trainer["init_from"]).exists():
        trainer["init_from"] = str(Path(trainer["init_from"]).resolve())
    for key in ("model", "tokenizer"):
        if isinstance(data.get(key), str) and data[key] and Path(data[key]).exists():
            data[key] = str(Path(data[key]).resolve())
    return data


def load_base(cfg: ExploreConfig) -> dict[str, Any]:
    """The base stage config as plain data: base_config's YAML with `base` laid over it."""
    data: dict = {}
    if cfg.base_config:
        path = Path(cfg.base_config)
        if not path.exists():
            raise ConfigError(f"'base_config': no such file {path}")
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"'base_config' {path}: the top level must be a mapping")
    data = deep_merge(data, cfg.base)
    data.pop("output_dir", None)
    return _absolute_paths(data)


def trials_of(cfg: ExploreConfig, base: dict, points: list[Point]) -> list[Trial]:
    trials, seen = [], set()
    for point in points:
        for seed in cfg.seeds:
            trial = resolve_trial(cfg, base, point, seed)
            if trial.run_id not in seen:
                seen.add(trial.run_id)
                trials.append(trial)
    return trials


def run_trials(cfg: ExploreConfig, trials: list[Trial], outcome: StudyResult) -> list[dict]:
    """Run the unfinished trials; returns the results of all of them (finished before or now)."""
    from jaforge.explore.executors import execute

    out = Path(cfg.output_dir)
    cleanup = {"keep_checkpoints": cfg.executor.keep_checkpoints, "keep_model": cfg.executor.keep_model}
    todo = []
    for trial in trials:
        directory = run_dir(out, trial.run_id)
        if is_done(directory):
            outcome.skipped.append(trial.run_id)
        else:
            todo.append(write_trial(trial, out, cfg.executor.threads, cleanup, cfg.stage))
    log.info("explore: %d runs, %d finished before, %d to run", len(trials), len(trials) - len(todo),
             len(todo))
    for directory, result, error in execute(todo, cfg.executor):
        if result is None:
            outcome.failed.append({"run_id": directory.name, "error": error})
            log.warning("explore: run %s failed: %s", directory.name, error)
        else:
            outcome.ran.append(directory.name)
            log.info("explore: run %s done (%d/%d)", directory.name, len(outcome.ran), len(todo))
    return [json.loads((run_dir(out, t.run_id) / "result.json").read_text("utf-8"))
            for t in trials if is_done(run_dir(out, t.run_id))]


def _write_lines(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows), "utf-8")
    tmp.replace(path)


def run(cfg: ExploreConfig) -> StudyResult:
    """Run (or resume) the study in cfg.output_dir and write its report."""
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    base = load_base(cfg)
    outcome = StudyResult(str(out))
    if cfg.space.sampler == "tpe":
        from jaforge.explore.tpe import run_tpe

        trials, results = run_tpe(cfg, base, outcome, run_trials)
    else:
        trials = trials_of(cfg, base, draw_points(cfg.space))
        _write_plan(out, trials)
        results = run_trials(cfg, trials, outcome)
    _write_plan(out, trials)
    outcome.results = results
    _write_lines(out / "results.jsonl", results)
    _write_lines(out / "failed.jsonl", outcome.failed)
    if cfg.report.enabled and results:
        from jaforge.explore.report import write_report

        outcome.report = str(write_report(cfg, results, outcome.failed))
    outcome.wall_s = time.perf_counter() - started
    write_json(out / "study.json", {"runs": len(trials), "finished": len(results),
                                    "ran_now": len(outcome.ran), "skipped": len(outcome.skipped),
                                    "failed": len(outcome.failed), "wall_s": outcome.wall_s})
    return outcome


def _write_plan(out: Path, trials: list[Trial]) -> None:
    _write_lines(out / "plan.jsonl", [{"run_id": t.run_id, "labels": t.labels, "seed": t.seed,
                                       "overrides": t.overrides} for t in trials])
