"""ModelConfig: defaults derived as documented, bad combinations refused, switch names equal to the
layer registries, and the config loader's did-you-mean for unknown values."""

from __future__ import annotations

import typing

import pytest

from jaforge.config import ConfigError, build
from jaforge.model.config import ModelConfig


def test_defaults_are_derived():
    cfg = ModelConfig(d_model=96, n_head=3, activation="gelu")
    assert (cfg.n_kv_head, cfg.head_dim, cfg.d_ff) == (3, 32, 384)
    assert ModelConfig(d_model=96, n_head=3, activation="swiglu").d_ff == 256   # 8/3·96 → ×32
    assert ModelConfig(n_layer=8, residual_scale_by_depth=True, residual_scale=2.0).branch_scale == 0.5


@pytest.mark.parametrize("bad, message", [
    (dict(n_head=4, n_kv_head=3), "n_kv_head"),
    (dict(d_model=30, n_head=4), "head_dim"),
    (dict(moe_experts=2, moe_top_k=3), "moe_top_k"),
    (dict(sliding_window=0), "sliding_window"),
    (dict(head_dim=7, position="rope"), "even head_dim"),
    (dict(mixer="rwkv", sliding_window=8), "sliding_window"),
    (dict(mixer="rwkv", qk_norm=True), "qk_norm"),
    (dict(mixer="rwkv", n_head=4, n_kv_head=2), "n_kv_head"),
    (dict(n_head=0), "n_head"),
])
def test_bad_combinations_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):  # a ConfigError: one line on the command line
        ModelConfig(**bad)


def test_ranges_are_declared_on_the_fields():
    for key, value in (("n_head", 0), ("n_layer", 0), ("d_ff", 0), ("head_dim", 0), ("dropout", 1.0),
                       ("norm_eps", 0.0), ("moe_experts", -1)):
        with pytest.raises(ConfigError, match=f"'{key}'.*out of range"):
            build(ModelConfig, {key: value})
    derived = build(ModelConfig, {"d_model": 96, "n_head": 3, "head_dim": None, "d_ff": None})
    assert (derived.head_dim, derived.d_ff) == (32, 256)


def test_moe_every_k_th_layer():
    cfg = ModelConfig(n_layer=4, moe_experts=4, moe_every=2)
    assert [cfg.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    assert not ModelConfig(n_layer=2).is_moe_layer(0)


def test_unknown_switch_value_gets_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'swiglu'"):
        build(ModelConfig, {"activation": "swiglo"})


def test_switch_names_equal_the_registries():
    pytest.importorskip("torch")
    from jaforge.model.layers import FEEDFORWARDS, INITS, MIXERS, NORMS, POSITIONS

    hints = typing.get_type_hints(ModelConfig)
    for field, registry in (("norm", NORMS), ("activation", FEEDFORWARDS), ("position", POSITIONS),
                            ("init", INITS), ("mixer", MIXERS)):
        assert sorted(typing.get_args(hints[field])) == registry.names(), field


def test_stages_without_torch_work_and_torch_stages_name_their_extra():
    """The corpus and tokenizer stages never import torch; a stage that needs it says which extra
    to install instead of failing with a traceback."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "import jaforge.corpus, jaforge.tokenizer, jaforge.tokenizer.tokenize_data\n"
            "from jaforge.cli import main\n"
            "sys.exit(main(['pretrain', '--help']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "pip install 'jaforge[train]'" in out.stderr
