"""Budget rules: keys a trial derives so that runs compare at equal size, tokens or compute.

    derived, info = apply_budget(budget_cfg, pretrain_data)   # {"model.d_model": 96, …}, {…}

Rules are registered by the BudgetConfig field that switches them on and run in registry order:
the size rule (`non_embedding_params`: d_model from n_layer) first, since the token and FLOP
rules depend on the shape. Parameter counts are exact (jaforge.model.counts), never 12·L·d².
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from jaforge.config import ConfigError, apply_override, build
from jaforge.explore.config import BudgetConfig
from jaforge.model.config import ModelConfig, default_d_ff
from jaforge.model.counts import count_params, estimate_flops
from jaforge.registry import Registry
from jaforge.train.config import PretrainConfig

Rule = Callable[[BudgetConfig, Any], dict[str, Any]]
BUDGET_RULES: Registry[Rule] = Registry("budget rule")
ORDER = ["non_embedding_params", "tokens", "tokens_per_param", "flops"]
STEP_RULES = ("tokens", "tokens_per_param", "flops")


def pretrain_of(data: dict[str, Any]) -> Any:
    return build(PretrainConfig, data, source="explore trial")


def shaped_model(model: ModelConfig, d_model: int, head_dim: int, d_ff: int | None = None) -> ModelConfig:
    """`model` at width d_model with heads of head_dim, keeping its key/value grouping."""
    n_head = d_model // head_dim
    group = max(1, model.n_head // model.n_kv_head)
    n_kv_head = max(1, n_head // group)
    if n_head % n_kv_head:
        n_kv_head = n_head
    return replace(model, d_model=d_model, n_head=n_head, n_kv_head=n_kv_head, head_dim=head_dim,
                   d_ff=d_ff if d_ff is not None else default_d_ff(d_model, model.activation,
                                                                   model.ffn_multiple_of))


def _non_embedding(model: ModelConfig) -> int:
    return count_params(model)["non_embedding"]


def nearest_width(model: ModelConfig, target: float, budget: BudgetConfig) -> ModelConfig:
    """The d_model on the head_dim/width_multiple grid whose count is closest to `target`."""
    step = math.lcm(budget.head_dim, budget.width_multiple)
    best, d = None, step
    while True:
        shaped = shaped_model(model, d, budget.head_dim)
        if best is None or abs(_non_embedding(shaped) - target) < abs(_non_embedding(best) - target):
            best = shaped
        if _non_embedding(shaped) > target:
            return best
        d += step


def tune_d_ff(model: ModelConfig, target: float, multiple: int) -> ModelConfig:
    """d_ff (a multiple of `multiple`, within 0.5–2× its default) closest to `target`."""
    m = multiple
    candidates = range(max(m, model.d_ff // 2 // m * m), 2 * model.d_ff + m, m)
    return min((replace(model, d_ff=f) for f in candidates),
               key=lambda c: abs(_non_embedding(c) - target))


@BUDGET_RULES.register("non_embedding_params")
def fixed_params(budget: BudgetConfig, cfg: Any) -> dict[str, Any]:
    target = float(budget.non_embedding_params)
    model = nearest_width(cfg.model, target, budget)
    if budget.adjust_d_ff:  # the neighbouring widths too: one of them may need a smaller d_ff change
        step = math.lcm(budget.head_dim, budget.width_multiple)
        multiple = min(budget.width_multiple, model.ffn_multiple_of)
        widths = [d for d in (model.d_model - step, model.d_model, model.d_model + step) if d > 0]
        model = min((tune_d_ff(shaped_model(model, d, budget.head_dim), target, multiple) for d in widths),
                    key=lambda c: abs(_non_embedding(c) - target))
    achieved = _non_embedding(model)
    miss = abs(achieved - target) / target
    if miss > budget.tolerance:
        raise ConfigError(
            f"'budget.non_embedding_params': n_layer={model.n_layer} reaches {achieved:,} "
            f"(d_model={model.d_model}), {miss:.0%} from the target {target:,.0f}; lower head_dim/"
            f"width_multiple, set adjust_d_ff, or raise budget.tolerance")
    derived = {"model.d_model": model.d_model, "model.n_head": model.n_head,
               "model.n_kv_head": model.n_kv_head, "model.head_dim": model.head_dim}
    derived["model.d_ff"] = model.d_ff if budget.adjust_d_ff else None
    return derived


def steps_for_tokens(cfg: Any, tokens: float) -> int:
    return max(1, round(tokens / (cfg.trainer.batch_size * cfg.data.seq_len)))


@BUDGET_RULES.register("tokens")
def fixed_tokens(budget: BudgetConfig, cfg: Any) -> dict[str, Any]:
    return {"trainer.max_steps": steps_for_tokens(cfg, budget.tokens)}


@BUDGET_RULES.register("tokens_per_param")
def tokens_per_param(budget: BudgetConfig, cfg: Any) -> dict[str, Any]:
    tokens = budget.tokens_per_param * _non_embedding(cfg.model)
    return {"trainer.max_steps": steps_for_tokens(cfg, tokens)}


@BUDGET_RULES.register("flops")
def fixed_flops(budget: BudgetConfig, cfg: Any) -> dict[str, Any]:
    per_token = estimate_flops(cfg.model, cfg.data.seq_len)["train_per_token"]
    return {"trainer.max_steps": steps_for_tokens(cfg, budget.flops / per_token)}


def apply_budget(budget: BudgetConfig, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dotted key → derived value, a description of the budget) for one trial's pretrain data."""
    active = [name for name in ORDER if getattr(budget, name) is not None]
    if sum(name in STEP_RULES for name in active) > 1:
        raise ConfigError(f"'budget': set at most one of {', '.join(STEP_RULES)}; got {active}")
    derived: dict[str, Any] = {}
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name in active:
        changes = BUDGET_RULES.get(name)(budget, pretrain_of(data))
        for key, value in changes.items():
            apply_override(data, key, value)
        derived.update(changes)
    cfg = pretrain_of(data)
    if budget.warmup_fraction is not None:
        derived["schedule.warmup_steps"] = max(1, round(budget.warmup_fraction * cfg.trainer.max_steps))
    info = {f"target_{n}": getattr(budget, n) for n in active}
    return derived, info


def shape_summary(cfg: Any) -> dict[str, Any]:
    """Parameters, tokens, FLOPs and aspect ratio of a resolved PretrainConfig."""
    counts = count_params(cfg.model)
    tokens = cfg.trainer.max_steps * cfg.trainer.batch_size * cfg.data.seq_len
    per_token = estimate_flops(cfg.model, cfg.data.seq_len)["train_per_token"]
    return {"non_embedding_params": counts["non_embedding"], "params": counts["total"],
            "tokens": tokens, "train_flops": float(per_token) * tokens,
            "n_layer": cfg.model.n_layer, "d_model": cfg.model.d_model,
            "aspect_ratio": cfg.model.d_model / cfg.model.n_layer}


def shape_at(model: ModelConfig, non_embedding_params: float, aspect_ratio: float,
             head_dim: int = 128, multiple: int = 128) -> ModelConfig:
    """The n_layer, d_model (a multiple of `multiple`) nearest `aspect_ratio` whose non-embedding
    count is closest to the target: how a small-model optimum reads at the big model's size."""
    def miss(c: ModelConfig) -> float:  # size and shape errors, both relative
        return (abs(math.log(_non_embedding(c) / non_embedding_params))
                + 0.5 * abs(math.log(c.d_model / c.n_layer / aspect_ratio)))

    candidates = []
    for n_layer in range(1, 513):
        d_model = max(multiple, round(aspect_ratio * n_layer / multiple) * multiple)
        candidates.append(shaped_model(replace(model, n_layer=n_layer), d_model, head_dim))
    return min(candidates, key=miss)
