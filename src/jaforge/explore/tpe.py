"""Optuna TPE over the study's space, in rounds as wide as the executor (`jaforge[explore]`).

    space: {sampler: tpe, trials: 24, seed: 0, params: {optim.lr: {low: 1e-4, high: 1e-2, log: true}}}

Each round asks optuna for `workers / len(seeds)` points, runs them (every seed) like any other
trial, and tells optuna each point's mean metric. The sampler is seeded and sees the same history
on a restart, so it asks the same points again: their run ids match, the finished runs are
skipped, and a killed TPE study resumes where it stopped.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from jaforge.explore.analysis import metric_value
from jaforge.explore.config import ExploreConfig
from jaforge.explore.space import Point, check_params, is_range, resolve_trial
from jaforge.extras import require

PRIMITIVES = (str, int, float, bool, type(None))


def suggest(handle: Any, params: dict[str, Any]) -> Point:
    """One point of the space from an optuna trial (choices that are mappings go by index)."""
    point = {}
    for name, spec in params.items():
        if is_range(spec):
            low, high, log = spec["low"], spec["high"], bool(spec.get("log"))
            point[name] = (handle.suggest_int(name, int(low), int(high), log=log) if spec.get("int")
                           else handle.suggest_float(name, float(low), float(high), log=log))
        elif all(isinstance(c, PRIMITIVES) for c in spec):
            point[name] = handle.suggest_categorical(name, spec)
        else:
            point[name] = spec[handle.suggest_categorical(name, list(range(len(spec))))]
    return point


def run_tpe(cfg: ExploreConfig, base: dict, outcome: Any,
            run_trials: Callable[..., list[dict]]) -> tuple[list, list[dict]]:
    """Ask, run and tell until `space.trials` points are done; returns (trials, results)."""
    optuna = require("optuna", "explore", "the TPE sampler of jaforge explore")
    optuna.logging.set_verbosity(logging.WARNING)
    check_params(cfg.space)
    sampler = optuna.samplers.TPESampler(seed=cfg.space.seed,
                                         n_startup_trials=max(2, min(10, cfg.space.trials // 3)))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    width = max(1, cfg.executor.workers // max(1, len(cfg.seeds)))
    trials, results, asked = [], [], 0
    while asked < cfg.space.trials:
        handles = [study.ask() for _ in range(min(width, cfg.space.trials - asked))]
        asked += len(handles)
        points = [suggest(h, cfg.space.params) for h in handles]
        round_trials = {t.run_id: t for p in points for t in
                        (resolve_trial(cfg, base, p, s) for s in cfg.seeds)}
        new = [t for t in round_trials.values() if t.run_id not in {x.run_id for x in trials}]
        trials += new
        found = {r["run_id"]: r for r in run_trials(cfg, new, outcome)}
        results += list(found.values())
        known = {r["run_id"]: r for r in results}
        for handle, point in zip(handles, points):
            ids = [resolve_trial(cfg, base, point, s).run_id for s in cfg.seeds]
            values = [metric_value(known[i], cfg.metric) for i in ids if i in known]
            if values and None not in values:
                study.tell(handle, float(np.mean(values)))
            else:
                study.tell(handle, state=optuna.trial.TrialState.FAIL)
    return trials, results
