"""A study from start to report: plan trials, run the unfinished ones, collect, analyse, report.

    jaforge explore --config recipes/explore-depth-width.yaml          # run (or resume) the study
    jaforge explore --config … --executor.kind ray                     # the same runs as Ray tasks

Writes into `output_dir`: config.yaml, plan.jsonl (every trial: run id, labels, overrides),
runs/<run-id>/ (one pretrain run each, DONE when finished), results.jsonl, failed.jsonl,
report.md, report.html and plots/. Killed? Run the same command: finished runs are skipped and
unfinished ones resume from their newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaforge.executor import Executor
from jaforge.explore.base import load_base
from jaforge.explore.config import ExploreConfig
from jaforge.explore.report import write_report
from jaforge.explore.space import Point, Trial, draw_points, resolve_trial
from jaforge.explore.tpe import run_tpe
from jaforge.explore.trial import is_done, run_dir, run_trial, write_trial
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

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


def trials_of(cfg: ExploreConfig, base: dict, points: list[Point]) -> list[Trial]:
    trials, seen = [], set()
    for point in points:
        for seed in cfg.seeds:
            trial = resolve_trial(cfg, base, point, seed)
            if trial.run_id not in seen:
                seen.add(trial.run_id)
                trials.append(trial)
    return trials


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def run_trials(cfg: ExploreConfig, trials: list[Trial], outcome: StudyResult) -> list[dict]:
    """Run the unfinished trials; returns the results of all of them (finished before or now)."""
    out = Path(cfg.output_dir)
    cleanup = {"keep_checkpoints": cfg.keep_checkpoints, "keep_model": cfg.keep_model}
    todo = []
    for trial in trials:
        directory = run_dir(out, trial.run_id)
        if is_done(directory):
            outcome.skipped.append(trial.run_id)
        else:
            todo.append(write_trial(trial, out, cfg.executor.threads, cleanup, cfg.stage,
                                    dataclasses.asdict(cfg.evaluate)))
    log.info("explore: %d runs, %d finished before, %d to run", len(trials), len(trials) - len(todo),
             len(todo))
    started, finished = time.perf_counter(), 0
    jobs = [(directory.name, str(directory)) for directory in todo]
    with Executor(cfg.executor, isolate=True, log=lambda d: Path(d) / "log.txt") as executor:
        for result in executor.map(run_trial, jobs, keep_going=True):
            finished += 1
            if result.ok:
                outcome.ran.append(result.key)
            else:
                outcome.failed.append({"run_id": result.key, "error": result.error})
                log.warning("explore: run %s failed: %s", result.key, result.error)
            elapsed = time.perf_counter() - started
            eta = elapsed / finished * (len(todo) - finished)
            log.info("explore: run %s %s (%d/%d, %s elapsed, about %s left)", result.key,
                     "done" if result.ok else "failed", finished, len(todo), _duration(elapsed),
                     _duration(eta))
    return [json.loads((run_dir(out, t.run_id) / "result.json").read_text("utf-8"))
            for t in trials if is_done(run_dir(out, t.run_id))]


def _write_lines(path: Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def run(cfg: ExploreConfig) -> StageResult:
    """Run (or resume) the study in cfg.output_dir and write its report.

    Runs are keyed by their config, so a study may grow (more points, seeds) between calls:
    finished runs are reused, new ones are trained."""
    started = time.perf_counter()
    base = load_base(cfg)
    with open_run(cfg.output_dir, "explore", cfg) as out:
        outcome = StudyResult(str(out))
        if cfg.space.sampler == "tpe":
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
            outcome.report = str(write_report(cfg, results, outcome.failed))
        outcome.wall_s = time.perf_counter() - started
        summary = {"runs": len(trials), "finished": len(results), "ran_now": len(outcome.ran),
                   "skipped": len(outcome.skipped), "failed": len(outcome.failed), "wall_s": outcome.wall_s}
        write_json(out / "study.json", summary)
    return stage_result(out, outcome, summary)


def stage_result(out: Path, outcome: StudyResult, summary: dict[str, Any]) -> StageResult:
    outputs = {"results": str(out / "results.jsonl"), "plan": str(out / "plan.jsonl")}
    if outcome.report:
        outputs.update(report=outcome.report, report_html=str(out / "report.html"))
    text = Path(outcome.report).read_text("utf-8") if outcome.report else \
        f"{summary['finished']} of {summary['runs']} runs finished; no report\n"
    metrics = {**summary, "ran_ids": outcome.ran, "skipped_ids": outcome.skipped, "failures": outcome.failed}
    return StageResult("explore", str(out), outputs, metrics, text)


def _write_plan(out: Path, trials: list[Trial]) -> None:
    _write_lines(out / "plan.jsonl", [{"run_id": t.run_id, "labels": t.labels, "seed": t.seed,
                                       "overrides": t.overrides} for t in trials])
