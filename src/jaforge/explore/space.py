"""Search spaces: points drawn from `space.params`, and each point (× seed) resolved into a trial.

    points = draw_points(cfg.space)                 # grid / random (TPE asks optuna, see runner)
    trial = resolve_trial(cfg, base, points[0], seed=0)
    trial.run_id, trial.overrides, trial.config     # hash of the overrides, dotted keys, plain config

A point maps each parameter name to one choice. A choice of a dotted key sets that key; a choice
that is a mapping (a bundle) sets several keys at once. Budget rules then derive the keys they
own (d_model, max_steps …), and the run id is a hash of everything the trial overrides, so the
same point always lands in the same directory and a restarted study finds it finished.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from jaforge.config import ConfigError, apply_override, build
from jaforge.explore.base import stage_config
from jaforge.explore.budget import ORDER, apply_budget
from jaforge.explore.config import BudgetConfig, ExploreConfig, SpaceConfig
from jaforge.registry import Registry

Point = dict[str, Any]
SAMPLERS: Registry[Callable[[SpaceConfig], list[Point]]] = Registry("sampler")


@dataclass
class Trial:
    """One training run of the study."""
    run_id: str
    overrides: dict[str, Any]
    """Every dotted config key this run sets (choices, budget-derived keys, seed keys)."""
    labels: dict[str, Any]
    """Parameter name → the choice shown in the report (bundle names for bundles)."""
    seed: int
    config: dict[str, Any]
    """The run's stage config (pretrain or sft) as plain data (output_dir not yet set)."""
    budget: dict[str, Any] = field(default_factory=dict)
    """What the budget rules derived (target and achieved parameters, tokens, FLOPs …)."""
    point: Point = field(default_factory=dict)


def is_range(choice: Any) -> bool:
    return isinstance(choice, dict) and "low" in choice and "high" in choice


def check_params(space: SpaceConfig) -> None:
    """Each parameter is a non-empty list of choices, or (random, tpe) a {low, high} range."""
    if not space.params:
        raise ConfigError("'space.params': the search space is empty")
    for name, spec in space.params.items():
        where = f"'space.params.{name}'"
        if is_range(spec):
            if space.sampler == "grid":
                raise ConfigError(f"{where}: a range needs sampler random or tpe; grid needs a list")
            if not spec["low"] < spec["high"]:
                raise ConfigError(f"{where}: low must be below high, got {spec}")
        elif not isinstance(spec, list) or not spec:
            raise ConfigError(f"{where}: expected a non-empty list of choices or {{low, high}}")
        elif "." not in name and not all(isinstance(c, dict) for c in spec):
            raise ConfigError(f"{where}: a name without a dot is a bundle; each choice must be a "
                              f"mapping of dotted keys (did you mean model.{name}?)")


@SAMPLERS.register("grid")
def grid_points(space: SpaceConfig) -> list[Point]:
    names = list(space.params)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space.params[n] for n in names))]


def sample_range(spec: dict, rng: random.Random) -> float | int:
    low, high = float(spec["low"]), float(spec["high"])
    if spec.get("log"):
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return int(round(value)) if spec.get("int") else value


@SAMPLERS.register("random")
def random_points(space: SpaceConfig) -> list[Point]:
    rng = random.Random(space.seed)
    points = []
    for _ in range(space.trials):
        points.append({name: sample_range(spec, rng) if is_range(spec) else rng.choice(spec)
                       for name, spec in space.params.items()})
    return points


@SAMPLERS.register("tpe")
def tpe_points(space: SpaceConfig) -> list[Point]:
    raise ConfigError("'space.sampler': tpe points are asked from optuna round by round "
                      "(jaforge.explore.tpe), not drawn up front")


def draw_points(space: SpaceConfig) -> list[Point]:
    check_params(space)
    return SAMPLERS.get(space.sampler)(space)


def choice_label(choice: Any) -> Any:
    if isinstance(choice, dict):
        return choice.get("name") or ",".join(f"{k.split('.')[-1]}={v}" for k, v in choice.items())
    return round(choice, 6) if isinstance(choice, float) else choice


def point_overrides(point: Point) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dotted key → value, parameter name → label) of one point; bundles are expanded."""
    overrides, labels = {}, {}
    for name, choice in point.items():
        labels[name] = choice_label(choice)
        if isinstance(choice, dict):
            overrides.update({k: v for k, v in choice.items() if k != "name"})
        else:
            overrides[name] = choice
    return overrides, labels


def run_id(overrides: dict[str, Any]) -> str:
    text = json.dumps(overrides, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def trial_budget(budget: BudgetConfig, overrides: dict[str, Any]) -> BudgetConfig:
    """The study's budget with this point's `budget.*` choices applied."""
    changes = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("budget.")}
    if not changes:
        return budget
    data = dataclasses.asdict(budget)
    unknown = set(changes) - set(data)
    if unknown:
        raise ConfigError(f"'space.params': unknown budget key(s) {sorted(unknown)}; known: {list(data)}")
    data.update(changes)
    return build(BudgetConfig, data, "budget")


def resolve_trial(cfg: ExploreConfig, base: dict[str, Any], point: Point, seed: int) -> Trial:
    """Apply a point, the budget rules (pretrain studies) and the seed to the base config data."""
    chosen, labels = point_overrides(point)
    overrides = {k: v for k, v in chosen.items() if not k.startswith("budget.")}
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        apply_override(data, key, value)
    derived, budget_info = {}, {}
    if cfg.stage == "pretrain":
        derived, budget_info = apply_budget(trial_budget(cfg.budget, chosen), data)
    elif any(getattr(trial_budget(cfg.budget, chosen), n) is not None for n in [*ORDER, "warmup_fraction"]):
        raise ConfigError("'budget': budget rules shape pretraining runs; an sft study takes none")
    for key, value in derived.items():
        apply_override(data, key, value)
    for key in cfg.seed_keys:
        apply_override(data, key, seed)
    overrides = {**chosen, **derived, **{k: seed for k in cfg.seed_keys}}
    build(stage_config(cfg.stage), data, source=f"explore point {labels}")  # fail early, naming the point
    return Trial(run_id(overrides), overrides, labels, seed, data, budget_info, point)
