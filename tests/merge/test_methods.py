"""Merge methods and parameters on hand-made tensors: gradients over depth, filters, precedence;
TIES' sign election; DARE's masks (seeded per tensor and model, order-free, density kept);
SLERP's end points; model stock's interpolation."""

from __future__ import annotations

import pytest

from jaforge.errors import ConfigError
from jaforge.merge.methods import METHODS, Inputs, Param, seeded_mask
from jaforge.merge.parameters import resolve, value_at

from .conftest import torch

NAME = "model.layers.3.mlp.up_proj.weight"


def test_gradients_filters_and_precedence():
    assert value_at([0.0, 1.0, 0.0], NAME, 0.25, float, "w") == pytest.approx(0.5)
    assert value_at([0.0, 1.0], NAME, 1.0, float, "w") == 1.0
    assert value_at([{"filter": "self_attn", "value": 0.1}, {"filter": "mlp", "value": [0.2, 0.4]},
                     {"value": 9}], NAME, 0.5, float, "w") == pytest.approx(0.3)
    assert value_at({"filter": "self_attn", "value": 0.1}, NAME, 0.5, float, "w") is None
    assert value_at([True, False], NAME, 0.9, bool, "n") is True   # discrete values are picked, not mixed
    weight = Param("weight", float, per_model=True)
    scopes = [("models[0].parameters", {"weight": {"filter": "attn", "value": 2}}),
              ("parameters", {"weight": [1.0, 3.0]})]
    assert resolve(weight, scopes, NAME, 0.5) == 2.0   # the model's condition misses: the global gradient
    with pytest.raises(ConfigError, match="needs parameter 'weight' of runs/a for tensor"):
        resolve(weight, [], NAME, 0.0, owner="runs/a")
    with pytest.raises(ConfigError, match=r"'p.w\[1\]': expected float, got 'x'"):
        value_at([1, "x"], NAME, 0.0, float, "p.w")


def test_ties_elects_the_sign_by_the_weighted_sum():
    base = torch.zeros(4)
    a, b = torch.tensor([1.0, -2.0, 3.0, 0.5]), torch.tensor([-3.0, 1.0, 1.0, -0.5])
    out = METHODS.get("ties").function(Inputs([base, a, b], 0), weight=[1.0, 1.0], density=[1.0, 1.0],
                                       normalize=True, rescale=False, lambda_=1.0, int8_mask=False)
    # entry 0: sum −2 → minus wins, only b counts; entry 3: sum 0 → plus, only a counts
    assert torch.allclose(out, torch.tensor([-3.0, -2.0, 2.0, 0.5]))


def test_dare_masks_are_seeded_per_tensor_and_model_and_keep_the_density():
    delta = torch.ones(200, 50)
    m1 = seeded_mask(0, "x.weight")(delta, 0.3, 1)
    assert torch.equal(m1, seeded_mask(0, "x.weight")(delta, 0.3, 1))          # the same in any order
    assert not torch.equal(m1, seeded_mask(0, "x.weight")(delta, 0.3, 0))      # another model
    assert not torch.equal(m1, seeded_mask(1, "x.weight")(delta, 0.3, 1))      # another seed
    assert abs(m1.mean().item() - 0.3) < 0.02
    base, other = torch.zeros(200, 50), torch.randn(200, 50, generator=torch.Generator().manual_seed(0))
    out = METHODS.get("dare_linear").function(Inputs([base, other.clone()], 0, seeded_mask(0, "x")), weight=[1.0],
                                              density=[0.3], normalize=False, rescale=True, lambda_=1.0,
                                              int8_mask=False)
    assert abs((out != 0).float().mean().item() - 0.3) < 0.02
    assert out.abs().sum() == pytest.approx(other.abs().sum().item(), rel=1e-5)   # L1 norm kept


def test_slerp_end_points_and_model_stock():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 8, generator=gen), torch.randn(8, 8, generator=gen)
    def slerp(t):  # methods may work in place on their inputs
        return METHODS.get("slerp").function(Inputs([a.clone(), b.clone()], 0), t=t)

    assert torch.allclose(slerp(0.0), a, atol=1e-6) and torch.allclose(slerp(1.0), b, atol=1e-6)
    mid = slerp(0.5)
    assert mid.norm() > (0.5 * (a + b)).norm()   # on the arc, not the chord
    base = torch.zeros(16)
    same = torch.ones(16)
    # two identical fine-tuned offsets: cos = 1 → t = 1 → their average
    out = METHODS.get("model_stock").function(Inputs([base, same, same.clone()], 0), filter_wise=False)
    assert torch.allclose(out, same)
