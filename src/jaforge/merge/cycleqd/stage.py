"""The cycleqd stage: `jaforge cycleqd --config recipes/cycleqd-tiny.yaml`.

Experts and baselines first (experts.py); the base, the experts and the baselines are scored like
children. Then, generation after generation: the quality task is tasks[g mod K]; `children` pairs
of parents are drawn from that task's archive, merged (crossover) and mutated (operators.py),
built and scored in parallel (launcher.py), and each child enters every archive whose cell it
wins (archive.py). After every generation state.json (archives, records, history) is written
atomically, so a killed run started again continues exactly: draws depend only on (seed,
generation), and finished children are read back from their directories instead of being scored
again. report.md, the best model's card (README.md, jaforge.merge.card) and result.json come last.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from jaforge.config import to_dict, validate
from jaforge.errors import ConfigError, JaforgeError
from jaforge.io.atomic import write_json
from jaforge.merge.card import MergeFacts, merge_licence, write_card
from jaforge.merge.cycleqd.archive import Archive, Elite
from jaforge.merge.cycleqd.children import write_job
from jaforge.merge.cycleqd.config import CycleQDConfig
from jaforge.merge.cycleqd.experts import merge_baselines, prepare_data, prepare_experts
from jaforge.merge.cycleqd.launcher import Launcher
from jaforge.merge.cycleqd.operators import ChildSpec, draw_weights, select_parents
from jaforge.merge.cycleqd.report import plot_archives, write_report
from jaforge.merge.cycleqd.tasks import TASKS
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

log = logging.getLogger(__name__)
MAY_CHANGE = ["generations", "executor", "keep_models", "device", "card"]
PAPER = "https://arxiv.org/abs/2410.14735"


def check(cfg: CycleQDConfig) -> list[str]:
    validate(cfg)
    names = [t.name for t in cfg.tasks]
    for name in names:
        TASKS.get(name)
    if len(set(names)) != len(names):
        raise ConfigError(f"'tasks': a task is listed twice ({', '.join(names)})")
    for name, bounds in cfg.ranges.items():
        if name not in names or len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ConfigError(f"'ranges.{name}': expected [low, high] with low < high for one of the tasks")
    if cfg.mutation.low > cfg.mutation.high:
        raise ConfigError("'mutation.low' must not exceed 'mutation.high'")
    return names


def score_models(cfg: CycleQDConfig, launcher: Launcher, models: dict[str, Path], data: dict,
                 group: str) -> dict[str, dict]:
    """Metrics of existing models (cached per model directory)."""
    tasks = {name: str(paths["eval"]) for name, paths in data.items()}
    directories = {write_job(Path(cfg.output_dir) / "evaluations" / f"{group}-{name.replace(' ', '-')}",
                             {"spec": None, "model": str(path), "tasks": tasks, "device": cfg.device,
                              "threads": cfg.executor.threads}): name for name, path in models.items()}
    records = {}
    for directory, record, error in launcher.run(list(directories)):
        if record is None:
            raise JaforgeError(f"scoring {directories[directory]} failed: {error}")
        records[directories[directory]] = record["metrics"]
    return {name: records[name] for name in models}


def metric_ranges(cfg: CycleQDConfig, names: list[str], start: list[dict[str, float]]) -> dict[str, tuple]:
    """Binned range per task: as configured, else [0, (1 + range_margin) × the best starting
    model's metric] (the metrics are ≥ 0 and higher is better; [0, 1] when every start scores 0)."""
    ranges = {}
    for name in names:
        best = max(m[name] for m in start)
        ranges[name] = tuple(cfg.ranges[name]) if name in cfg.ranges else (0.0, best * (1 + cfg.range_margin) or 1.0)
    return ranges


def initial_state(cfg: CycleQDConfig, names: list[str], experts: dict[str, dict], base: dict) -> dict:
    ranges = metric_ranges(cfg, names, [base, *experts.values()])
    archives = [Archive(t, [o for o in names if o != t], ranges, cfg.bins) for t in names]
    for task, metrics in experts.items():
        for archive in archives:
            archive.insert(Elite(f"expert-{task}", metrics))
    reference = {t: max(m[t] for m in [base, *experts.values()]) for t in names}
    return {"next_generation": 0, "archives": [a.to_json() for a in archives], "records": {}, "history": [],
            "reference": reference}


def children_of(cfg: CycleQDConfig, g: int, archive: Archive) -> list[ChildSpec]:
    rng = np.random.default_rng([cfg.seed, g])
    specs = []
    for c in range(cfg.children):
        parents = select_parents(archive, rng, cfg.sampling)
        weights = draw_weights(rng, cfg.crossover.mean, cfg.crossover.std, len(parents))
        specs.append(ChildSpec(f"g{g:04d}-c{c:02d}", g, archive.task, [p.id for p in parents], weights,
                               int(rng.integers(2**31))))
    return specs


def generation(cfg: CycleQDConfig, launcher: Launcher, g: int, state: dict, model_dirs: dict[str, str],
               data: dict) -> dict:
    """Make, score and insert one generation's children; returns its history row."""
    archives = [Archive.from_json(a) for a in state["archives"]]
    quality = archives[g % len(archives)]
    tasks = {name: str(paths["eval"]) for name, paths in data.items()}
    mutation = [cfg.mutation.low, cfg.mutation.high] if cfg.mutation.enabled else None
    directories = []
    for spec in children_of(cfg, g, quality):
        directories.append(write_job(Path(cfg.output_dir) / "children" / spec.id, {
            "spec": to_dict(spec), "base": cfg.base_model, "parents": [model_dirs[p] for p in spec.parents],
            "tasks": tasks, "mutation": mutation, "exclude": cfg.mutation.exclude, "device": cfg.device,
            "threads": cfg.executor.threads}))
    records = {}
    for directory, record, error in launcher.run(directories):
        if record is None:
            log.warning("child %s failed: %s", directory.name, error)
        else:
            records[directory.name] = {"metrics": record["metrics"], "parents": json.loads(
                (directory / "child.json").read_text("utf-8"))["spec"]["parents"], "generation": g}
    inserted = 0
    for child_id in sorted(records):   # the same insertion order whatever order the workers finish in
        model_dirs[child_id] = str(Path(cfg.output_dir) / "children" / child_id / "model")
        entered = [a.insert(Elite(child_id, records[child_id]["metrics"])) for a in archives]
        inserted += any(entered)
    state["records"].update(records)
    state["archives"] = [a.to_json() for a in archives]
    return {"generation": g, "task": quality.task, "children": len(records), "inserted": inserted,
            "cells": {a.task: len(a.cells) for a in archives},
            "best": {a.task: a.quality(a.best()) for a in archives}}


def normalised_mean(metrics: dict[str, float], reference: dict[str, float]) -> float:
    """The mean over tasks of metric / reference (the best starting model's metric on that task), so
    that tasks on different scales (accuracy vs. token probability) weigh the same."""
    return float(np.mean([metrics[t] / reference[t] if reference[t] > 0 else metrics[t] for t in reference]))


def best_average(state: dict, reference: dict[str, float]) -> dict[str, Any]:
    """The child with the highest normalised task average (ties: the earliest)."""
    ranked = sorted(state["records"].items(), key=lambda kv: (-normalised_mean(kv[1]["metrics"], reference), kv[0]))
    child_id, record = ranked[0]
    return {"id": child_id, "metrics": record["metrics"]}


def prune(cfg: CycleQDConfig, state: dict) -> None:
    """Delete the weights of children that no archive holds (and that are not the best on average)."""
    if cfg.keep_models == "all" or not state["records"]:
        return
    keep = {c["id"] for a in state["archives"] for c in a["cells"]} | {best_average(state, state["reference"])["id"]}
    for child_id in state["records"]:
        if child_id not in keep:
            shutil.rmtree(Path(cfg.output_dir) / "children" / child_id / "model", ignore_errors=True)


def run(cfg: CycleQDConfig) -> StageResult:
    names = check(cfg)
    licence = merge_licence(cfg.card, [Path(cfg.base_model)] + [Path(t.expert) for t in cfg.tasks if t.expert])
    out = Path(cfg.output_dir)
    with open_run(out, "cycleqd", cfg, resuming=True, may_change=MAY_CHANGE), Launcher(cfg.executor) as launcher:
        data = prepare_data(cfg)
        expert_dirs = prepare_experts(cfg, data, licence[0])
        start = score_models(cfg, launcher, {"base": Path(cfg.base_model), **expert_dirs}, data, "start")
        experts = {t: start[t] for t in expert_dirs}
        state_path = out / "state.json"
        state = (json.loads(state_path.read_text("utf-8")) if state_path.exists()
                 else initial_state(cfg, names, experts, start["base"]))
        model_dirs = {f"expert-{t}": str(d) for t, d in expert_dirs.items()}
        model_dirs.update({c: str(out / "children" / c / "model") for c in state["records"]})
        plot_archives([Archive.from_json(a) for a in state["archives"]], out / "archives" / "gen-start.png", "start")
        for g in range(state["next_generation"], cfg.generations):
            state["history"].append(generation(cfg, launcher, g, state, model_dirs, data))
            state["next_generation"] = g + 1
            write_json(out / "archives" / f"gen-{g:04d}.json", state["archives"])
            plot_archives([Archive.from_json(a) for a in state["archives"]], out / "archives" / f"gen-{g:04d}.png",
                          f"generation {g} (quality: {names[g % len(names)]})")
            prune(cfg, state)
            write_json(state_path, state)
            log.info("generation %d: %s", g, state["history"][-1]["cells"])
        baselines = score_models(cfg, launcher, merge_baselines(cfg, expert_dirs), data, "baseline")
        summary = summarise(cfg, names, state, experts, {"base": start["base"], **baselines})
        write_report(out, summary)
        outputs = {"report": str(out / "report.md"), "best_average": summary["best_average"]["model"],
                   **best_model_card(cfg, summary, expert_dirs, licence)}
        result = StageResult("cycleqd", str(out), outputs=outputs,
                             metrics=_metrics(summary), summary=(out / "report.md").read_text("utf-8"))
        result.write()
    return result


def best_model_card(cfg: CycleQDConfig, summary: dict, experts: dict[str, Path],
                    licence: tuple[str, str]) -> dict[str, str]:
    """README.md for the best-on-average model (when one was made); its name as an output."""
    best = summary["best_average"]
    if not best["model"] or not Path(best["model"]).is_dir():
        return {}
    scores = ", ".join(f"{t} {best['metrics'][t]:.4g}" for t in summary["tasks"])
    recipe = yaml.safe_dump({k: v for k, v in to_dict(cfg).items() if k != "card"}, allow_unicode=True,
                            sort_keys=False)
    facts = MergeFacts(f"CycleQD best average ({best['id']})", [cfg.base_model, *map(str, experts.values())],
                       recipe, "CycleQD", PAPER, summary=f"Child {best['id']} of {cfg.generations} generations, "
                       f"best on the average of the normalised task metrics ({scores}).")
    return {"model_card": str(write_card(Path(best["model"]), cfg.card, licence, facts))}


def summarise(cfg: CycleQDConfig, names: list[str], state: dict, experts: dict, baselines: dict) -> dict[str, Any]:
    out = Path(cfg.output_dir)
    archives = [Archive.from_json(a) for a in state["archives"]]
    best_per_task = {a.task: {"id": a.best().id, "metrics": a.best().metrics} for a in archives}
    if state["records"]:
        best = best_average(state, state["reference"])
        best["model"] = str(out / "children" / best["id"] / "model")
    else:
        best = {"id": "none", "metrics": {t: float("nan") for t in names}, "model": ""}
    heatmaps = [("start", "archives/gen-start.png")] + [
        (h["generation"], f"archives/gen-{h['generation']:04d}.png") for h in state["history"]]
    return {"tasks": names, "metric_names": {t: TASKS.get(t).metric_name for t in names},
            "generations": cfg.generations, "children": cfg.children, "bins": cfg.bins, "seed": cfg.seed,
            "sampling": cfg.sampling, "crossover": to_dict(cfg.crossover), "mutation": to_dict(cfg.mutation),
            "experts": experts, "baselines": baselines, "best_per_task": best_per_task, "best_average": best,
            "history": state["history"], "ranges": archives[0].ranges if archives else {},
            "reference": state["reference"],
            "heatmaps": [(g, p) for g, p in heatmaps if (out / p).exists()]}


def _metrics(summary: dict) -> dict[str, Any]:
    reference = summary["reference"]
    experts = {name: normalised_mean(m, reference) for name, m in summary["experts"].items()}
    best = normalised_mean(summary["best_average"]["metrics"], reference)
    return {"best_average": best, "best_average_id": summary["best_average"]["id"],
            "experts_average": experts, "beats_every_expert": all(best > v for v in experts.values()),
            "baselines_average": {n: normalised_mean(m, reference) for n, m in summary["baselines"].items()},
            "cells": summary["history"][-1]["cells"] if summary["history"] else {},
            "children": sum(h["children"] for h in summary["history"])}
