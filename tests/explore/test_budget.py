"""Budget rules hold what they promise: non-embedding parameters, tokens, FLOPs."""

import pytest

from jaforge.config import ConfigError, build
from jaforge.explore.budget import apply_budget, pretrain_of, shape_at, shape_summary
from jaforge.explore.config import BudgetConfig
from jaforge.model.config import ModelConfig
from jaforge.model.counts import count_params, estimate_flops

BASE = {"data": {"seq_len": 32}, "model": {"vocab_size": 500, "n_head": 4, "n_kv_head": 2},
        "trainer": {"batch_size": 4}}


def resolved(budget: dict, **model) -> tuple[dict, object]:
    data = {**BASE, "model": {**BASE["model"], **model}}
    derived, _ = apply_budget(build(BudgetConfig, budget), data)
    from jaforge.config import apply_override

    for key, value in derived.items():
        apply_override(data, key, value)
    return derived, pretrain_of(data)


@pytest.mark.parametrize("adjust, tolerance", [(False, 0.25), (True, 0.02)])
def test_fixed_params_across_depths(adjust, tolerance):
    target = 60_000
    budget = {"non_embedding_params": target, "head_dim": 8, "width_multiple": 8, "adjust_d_ff": adjust,
              "tolerance": tolerance}
    counts, widths = [], []
    for n_layer in (1, 2, 4, 6):
        _, cfg = resolved(budget, n_layer=n_layer)
        counts.append(count_params(cfg.model)["non_embedding"])
        widths.append(cfg.model.d_model)
        assert cfg.model.d_model % 8 == 0 and cfg.model.head_dim == 8
        assert cfg.model.n_head % cfg.model.n_kv_head == 0
    assert all(abs(c - target) / target <= tolerance for c in counts), counts
    assert widths == sorted(widths, reverse=True)  # deeper → narrower


def test_fixed_params_out_of_reach_names_the_key():
    with pytest.raises(ConfigError, match="budget.non_embedding_params"):
        resolved({"non_embedding_params": 3000, "head_dim": 64, "tolerance": 0.01}, n_layer=4)


def test_fixed_tokens_and_flops_derive_max_steps():
    _, cfg = resolved({"tokens": 12800}, n_layer=2, d_model=32)
    assert cfg.trainer.max_steps == 12800 // (4 * 32)
    flops = 3e9
    _, cfg = resolved({"flops": flops, "warmup_fraction": 0.1}, n_layer=2, d_model=32)
    spent = shape_summary(cfg)["train_flops"]
    per_step = estimate_flops(cfg.model, 32)["train_per_token"] * 4 * 32
    assert abs(spent - flops) <= per_step / 2
    assert cfg.schedule.warmup_steps == round(0.1 * cfg.trainer.max_steps)


def test_tokens_per_param_follows_size_and_only_one_step_rule():
    _, small = resolved({"non_embedding_params": 20_000, "head_dim": 8, "width_multiple": 8,
                         "tokens_per_param": 20, "adjust_d_ff": True}, n_layer=2)
    _, big = resolved({"non_embedding_params": 80_000, "head_dim": 8, "width_multiple": 8,
                       "tokens_per_param": 20, "adjust_d_ff": True}, n_layer=2)
    assert big.trainer.max_steps > 3 * small.trainer.max_steps
    with pytest.raises(ConfigError, match="at most one"):
        resolved({"tokens": 1000, "flops": 1e9})


def test_shape_at_large_size_hits_target_and_aspect():
    shape = shape_at(ModelConfig(vocab_size=32000), 1e10, 100)
    assert abs(count_params(shape)["non_embedding"] / 1e10 - 1) < 0.15
    assert 60 < shape.d_model / shape.n_layer < 160 and shape.d_model % 128 == 0
