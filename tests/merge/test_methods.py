"""Merge methods and parameters on hand-made tensors: gradients over depth, filters, precedence;
TIES' sign election; DARE's masks (seeded per tensor and model, order-free, density kept);
SLERP's end points; model stock's interpolation."""

from __future__ import annotations

import pytest

from jaforge.errors import ConfigError
from jaforge.merge.methods import METHODS, Inputs, Param, magprune_probabilities, outliers_pruned, seeded_mask
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


def sorted_breadcrumbs(delta, density: float, gamma: float):
    """Breadcrumbs by its definition: ranks bottom … bottom + keep − 1 of torch.sort's ascending order."""
    n = delta.numel()
    keep, top = int(density * n), int(gamma * n)
    bottom = max(0, n - keep - top)
    mask = torch.zeros(n)
    mask[torch.sort(delta.abs().reshape(-1).float(), descending=False).indices[bottom:bottom + keep]] = 1
    return delta * mask.reshape(delta.shape)


@pytest.mark.parametrize("values", ["distinct", "tied", "half zero"])
def test_breadcrumbs_selection_keeps_the_sorted_ranks_ties_included(values):
    """The two-threshold selection takes exactly the ranks a full sort would, also when entries
    tied at a boundary straddle it (then it takes them in the sort's order, as mergekit does)."""
    gen = torch.Generator().manual_seed(1)
    for shape in [(1,), (9,), (40, 25)]:
        delta = torch.randn(shape, generator=gen)
        delta = (delta * 2).round() / 2 if values == "tied" else delta
        if values == "half zero":
            delta.reshape(-1)[: delta.numel() // 2] = 0
        for density in (0.0, 0.1, 0.5, 0.99):
            for gamma in (0.0, 0.01, 0.3):
                torch.testing.assert_close(outliers_pruned(delta.clone(), density, gamma, rescale=False),
                                           sorted_breadcrumbs(delta, density, gamma), rtol=0, atol=0)


def test_della_keeps_large_magnitudes_more_often_and_checks_epsilon():
    rows = torch.tensor([[0.1, -3.0, 2.0, 0.0, -0.5]])
    p = magprune_probabilities(rows, density=0.5, epsilon=0.2)
    torch.testing.assert_close(p, torch.tensor([[0.4, 0.7, 0.6, 0.3, 0.5]]))  # 0.3 … 0.7 by rank
    base, other = torch.zeros(300, 40), torch.randn(300, 40, generator=torch.Generator().manual_seed(0))
    della = METHODS.get("della_linear").function
    out = della(Inputs([base, other.clone()], 0, seeded_mask(0, "x")), weight=[1.0], density=[0.4],
                normalize=False, rescale=True, lambda_=1.0, int8_mask=False, epsilon=[0.2])
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.4) < 0.02
    assert other.abs()[kept].mean() > other.abs()[~kept].mean()
    assert out.abs().sum() == pytest.approx(other.abs().sum().item(), rel=1e-5)   # L1 norm kept
    with pytest.raises(ValueError, match="'density' 0.9 ± 'epsilon' 0.2 of model 1"):
        della(Inputs([base, other.clone()], 0, seeded_mask(0, "x")), weight=[1.0], density=[0.9],
              normalize=False, rescale=True, lambda_=1.0, int8_mask=False, epsilon=[0.2])


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


def test_the_help_names_every_registered_method():
    import re

    from jaforge.config import field_docs
    from jaforge.merge.config import MergeConfig

    named = set(re.findall(r"[a-z_]+", field_docs(MergeConfig)["merge_method"]))
    assert set(METHODS.names()) <= named
