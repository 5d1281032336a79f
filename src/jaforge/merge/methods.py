"""Merge methods: one typed function each, registered by name, with mergekit's parameter names.

    @merge_method("linear", Param("weight", float, per_model=True, with_base=True),
                  Param("normalize", bool, True))
    def linear(inputs: Inputs, weight: list[float], normalize: bool) -> Tensor: ...

    METHODS.get("ties")          # unknown names fail with the known list and a did-you-mean

A method receives the aligned input tensors of one output tensor (already in the compute dtype,
float32 or float64) and its resolved parameters: shared ones as scalars, per-model ones as lists in
input order (without the base unless `with_base`). Semantics follow the papers as mergekit
implements them, so outputs agree with mergekit 0.1.x: TIES keeps the top-`density` magnitudes of
each task vector and elects the sign by the sum of the weighted task vectors; DARE drops entries at
random and keeps each task vector's L1 norm (`rescale`); Breadcrumbs drops the largest (`gamma`)
and the smallest entries; DELLA keeps entries at random with probabilities that rise with
magnitude; `normalize` divides by the sum of the (agreeing) weights; `lambda` scales the merged
task vector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from jaforge.registry import Registry

REQUIRED = object()


class ParameterError(ValueError):
    """A parameter value a method cannot use for some tensor (the engine names the tensor)."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    default: Any = REQUIRED
    per_model: bool = False
    """One value per input model (weight, density); shared otherwise (normalize, lambda, t)."""
    with_base: bool = False
    """A per-model parameter that the base model has too (linear's weight)."""

    @property
    def argument(self) -> str:
        return "lambda_" if self.name == "lambda" else self.name


@dataclass(frozen=True)
class MergeMethod:
    name: str
    function: Callable[..., Tensor]
    params: tuple[Param, ...]
    needs_base: bool = False
    min_inputs: int = 1
    max_inputs: Optional[int] = None
    paper: str = ""
    optional_base: bool = False
    """The base is used when the recipe names one, and the method runs without one too."""
    others: Optional[int] = None
    """How many models besides the base the method merges, when that is fixed."""

    @property
    def uses_base(self) -> bool:
        return self.needs_base or self.optional_base


MaskFn = Callable[[Tensor, "float | Tensor", int], Tensor]
"""(task vector, keep probability — one for all entries, or one per entry — , index of the model
among the non-base inputs) → 0/1 mask."""
Prune = Callable[[Tensor, int], Tensor]
"""(task vector, index of the model among the non-base inputs) → the sparsified task vector."""


@dataclass
class Inputs:
    tensors: list[Tensor]
    """One tensor per input model, in input order (the base among them when there is one); fresh
    copies that a method may change in place."""
    base_index: Optional[int] = None
    mask: MaskFn = field(default=lambda delta, density, i: torch.ones_like(delta))

    @property
    def base(self) -> Tensor:
        return self.tensors[self.base_index]

    @property
    def others(self) -> list[Tensor]:
        return [t for i, t in enumerate(self.tensors) if i != self.base_index]


METHODS: Registry[MergeMethod] = Registry("merge method")
NOT_IMPLEMENTED = ("sce", "multislerp", "karcher", "arcee_fusion", "nearswap", "ram", "ramplus_tl")
"""mergekit methods jaforge does not implement (a recipe naming one is refused with this said)."""


def merge_method(name: str, *params: Param, needs_base: bool = False, min_inputs: int = 1,
                 max_inputs: Optional[int] = None, paper: str = "", optional_base: bool = False,
                 others: Optional[int] = None):
    def register(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
        METHODS.register(name)(MergeMethod(name, function, params, needs_base, min_inputs, max_inputs, paper,
                                           optional_base, others))
        return function
    return register


def seeded_mask(seed: int, tensor_name: str) -> MaskFn:
    """DARE's and DELLA's Bernoulli masks from a generator seeded by (seed, tensor, model): the same
    merge gives the same masks in any order and in any process."""
    def mask(delta: Tensor, density: float | Tensor, index: int) -> Tensor:
        digest = hashlib.sha256(f"{seed}\0{tensor_name}\0{index}".encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        return (torch.rand(delta.shape, generator=generator) < density).to(delta.dtype)
    return mask


# --- linear and spherical interpolation -------------------------------------------------------

@merge_method("linear", Param("weight", float, per_model=True, with_base=True), Param("normalize", bool, True),
              paper="https://arxiv.org/abs/2203.05482")
def linear(inputs: Inputs, weight: list[float], normalize: bool) -> Tensor:
    """Σ wᵢ θᵢ (÷ Σ wᵢ when normalize)."""
    result = torch.zeros_like(inputs.tensors[0])
    for tensor, w in zip(inputs.tensors, weight):
        result.add_(tensor, alpha=w)
    return result / sum(weight) if normalize else result


@merge_method("slerp", Param("t", float), needs_base=True, min_inputs=2, max_inputs=2,
              paper="https://en.wikipedia.org/wiki/Slerp")
def slerp(inputs: Inputs, t: float, dot_threshold: float = 0.9995, eps: float = 1e-8) -> Tensor:
    """Spherical interpolation from the base (t = 0) to the other model (t = 1), over the whole
    tensor as one vector; nearly parallel tensors are interpolated linearly."""
    v0, v1 = inputs.base, inputs.others[0]
    a, b = v0.reshape(-1), v1.reshape(-1)
    norm_a, norm_b = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    norm_a = norm_a if norm_a > eps else torch.ones_like(norm_a)
    norm_b = norm_b if norm_b > eps else torch.ones_like(norm_b)
    dot = (torch.dot(a, b) / norm_a / norm_b).clamp(-1, 1)
    if dot.abs() > dot_threshold:
        c0, c1 = 1 - t, t
    else:
        theta = torch.acos(dot)
        c0, c1 = float(torch.sin((1 - t) * theta) / torch.sin(theta)), float(torch.sin(t * theta) / torch.sin(theta))
    return v0.mul_(c0).add_(v1, alpha=c1)


def nuslerp_vectors(t: float, v0: Tensor, v1: Tensor, eps: float = 1e-8) -> Tensor:
    """Spherical interpolation of each row (last dimension) of v0 and v1 at t; rows nearly
    parallel are interpolated linearly."""
    def unit(x: Tensor) -> Tensor:
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp(min=1e-7)

    cos = (unit(v0) * unit(v1)).sum(dim=-1, keepdim=True).clamp(-1, 1)
    parallel = (1 - cos.square()) <= eps ** 2
    theta = torch.acos(torch.where(parallel, torch.zeros_like(cos), cos))
    spherical = (torch.sin((1 - t) * theta) * v0 + torch.sin(t * theta) * v1) / torch.sin(theta)
    return torch.where(parallel, (1 - t) * v0 + t * v1, spherical)


@merge_method("nuslerp", Param("weight", float, per_model=True), Param("nuslerp_row_wise", bool, False),
              Param("nuslerp_flatten", bool, True), optional_base=True, others=2,
              paper="https://github.com/arcee-ai/mergekit/blob/main/docs/merge_methods.md")
def nuslerp(inputs: Inputs, weight: list[float], nuslerp_row_wise: bool, nuslerp_flatten: bool) -> Tensor:
    """SLERP between two models at t = w₂ / (w₁ + w₂) (0.5 when the weights cancel): of their task
    vectors when there is a base (added back after), else of the weights themselves; over the
    whole tensor (`nuslerp_flatten`), its columns (`nuslerp_row_wise`) or its rows."""
    total = sum(weight)
    t = 0.5 if abs(total) < 1e-6 else weight[1] / total
    base = inputs.base if inputs.base_index is not None else None
    v0, v1 = inputs.others if base is None else (inputs.others[0].sub_(base), inputs.others[1].sub_(base))
    shape = v0.shape
    if nuslerp_flatten:
        merged = nuslerp_vectors(t, v0.reshape(-1), v1.reshape(-1)).reshape(shape)
    elif nuslerp_row_wise:
        merged = nuslerp_vectors(t, v0.transpose(0, -1), v1.transpose(0, -1)).transpose(0, -1).reshape(shape)
    else:
        merged = nuslerp_vectors(t, v0, v1)
    return merged if base is None else merged.add_(base)


# --- task vectors: task arithmetic, TIES, DARE ------------------------------------------------

def _l1_rescaled(kept: Tensor, before: Tensor, eps: float = 1e-7) -> Tensor:
    """`kept` scaled back to the L1 norm `before` it had (unless either is ~0)."""
    after = kept.abs().sum()
    if before < eps or after < eps:
        return kept
    return kept.mul_(before / after)


def magnitude_pruned(delta: Tensor, density: float, rescale: bool) -> Tensor:
    """Keep the `density` share of entries with the largest magnitude (at least one); in place."""
    if density >= 1:
        return delta
    if density <= 0 or delta.numel() == 0:
        return delta.zero_()
    k = max(1, int(density * delta.numel()))
    magnitudes = delta.abs().reshape(-1).float()
    before = magnitudes.sum() if rescale else None
    threshold = torch.kthvalue(magnitudes, magnitudes.numel() - k + 1).values
    keep = magnitudes >= threshold
    if int(keep.sum()) != k:
        # Entries tied at the threshold straddle it: keep those that come first in torch.argsort's
        # descending order, the order mergekit takes them in (a selection by index would be as valid
        # but would not reproduce mergekit's merges).
        keep.zero_()
        keep[torch.argsort(magnitudes, descending=True)[:k]] = True
    del magnitudes
    kept = delta.mul_(keep.reshape(delta.shape))
    return _l1_rescaled(kept, before) if rescale else kept


def randomly_dropped(delta: Tensor, density: float, rescale: bool, mask: Tensor) -> Tensor:
    """DARE: keep each entry with probability `density` (the given 0/1 mask); in place."""
    if density >= 1:
        return delta
    before = delta.abs().sum() if rescale else None
    kept = delta.mul_(mask)
    return _l1_rescaled(kept, before) if rescale else kept


def outliers_pruned(delta: Tensor, density: float, gamma: float, rescale: bool) -> Tensor:
    """Model Breadcrumbs: drop the `gamma` share of entries with the largest magnitude (fewer when
    `density` needs them) and the smallest ones, keeping `density` of all entries; in place."""
    if density >= 1:
        return delta
    n = delta.numel()
    keep_n, top = int(density * n), int(gamma * n)
    bottom = max(0, n - keep_n - top)
    before = delta.abs().sum() if rescale else None
    # ascending magnitude order as mergekit sorts it (float32, torch.sort), so that tied entries
    # fall alike. A selection by two thresholds is 3x faster on an untied tensor, but deltas of
    # bf16 models tie at the boundaries (thousands of entries at each one of a 0.7M-entry tensor),
    # and then only this sort reproduces mergekit
    order = torch.sort(delta.abs().reshape(-1).float(), descending=False).indices
    keep = torch.zeros(n, dtype=delta.dtype)
    keep[order[bottom:bottom + keep_n]] = 1
    kept = delta.mul_(keep.reshape(delta.shape))
    return _l1_rescaled(kept, before) if rescale else kept


def magprune_probabilities(rows: Tensor, density: float, epsilon: float) -> Tensor:
    """DELLA's keep probability of each entry of `rows` [R, C]: density − ε for the smallest
    magnitude of its row, rising with the magnitude's rank to density + ε for the largest."""
    ranks = torch.argsort(torch.argsort(rows.abs(), dim=1), dim=1).float() + 1
    low, high = ranks.min(dim=1, keepdim=True).values, ranks.max(dim=1, keepdim=True).values
    rank_norm = ((ranks - low) / (high - low).clamp(min=1)).clamp(0, 1)
    return (density - epsilon) + rank_norm * 2 * epsilon


def magnitude_sampled(delta: Tensor, density: float, epsilon: float, rescale: bool,
                      mask: Callable[[Tensor, Tensor], Tensor], index: int = 0) -> Tensor:
    """DELLA's MagPrune: keep each entry with its `magprune_probabilities` (row by row; a vector
    is one row), drawn by `mask(rows, probabilities)`; in place. `index`: the model's place among
    the non-base inputs (for the error)."""
    if density >= 1:
        return delta
    if density <= 0:
        return delta.zero_()
    if not (0 < density - epsilon and density + epsilon < 1):
        raise ParameterError(f"'density' {density} ± 'epsilon' {epsilon} of model {index + 1} (after the "
                             f"base) leaves (0, 1); lower epsilon or move density away from 0 and 1")
    rows = delta.reshape(1, -1) if delta.dim() < 2 else delta
    before = delta.abs().sum() if rescale else None
    kept = delta.mul_(mask(rows, magprune_probabilities(rows, density, epsilon)).reshape(delta.shape))
    return _l1_rescaled(kept, before) if rescale else kept


def combine_task_vectors(inputs: Inputs, weight: list[float], prune: Optional[Prune], *,
                         elect_sign: bool, normalize: bool, lambda_: float) -> Tensor:
    """base + λ · Σ wᵢ·prune(θᵢ − base) [÷ Σ wᵢ over the models agreeing with the elected sign].

    Works model by model on the input tensors themselves (the engine hands over fresh copies), so
    a merge of n models needs about n + 3 tensors of memory, not several stacks of n."""
    base = inputs.base
    deltas = []
    for i, (tensor, w) in enumerate(zip(inputs.others, weight)):
        delta = tensor.sub_(base)
        if prune is not None:
            delta = prune(delta, i)
        deltas.append(delta.mul_(torch.tensor(w, dtype=delta.dtype)))
    if not deltas:
        return base.clone()
    merged = torch.zeros_like(base)
    if elect_sign:
        positive = sum(deltas[1:], deltas[0].clone()) >= 0
        divisor = torch.zeros_like(base)
        for delta, w in zip(deltas, weight):
            agree = torch.where(positive, delta > 0, delta < 0)
            merged.add_(delta.mul_(agree))
            divisor.add_(agree.to(base.dtype).mul_(torch.tensor(w, dtype=base.dtype)))
        divisor[divisor == 0] = 1
    else:
        for delta in deltas:
            merged.add_(delta)
        total = float(torch.tensor(weight, dtype=base.dtype).sum())
        divisor = total if abs(total) >= 1e-8 else 1.0
    if normalize:
        merged = merged.div_(divisor)
    if lambda_ != 1:
        merged = merged.mul_(lambda_)
    return merged.add_(base)


def _task_vector_params(normalize: bool, rescale: bool, *extra: Param) -> tuple[Param, ...]:
    return (Param("weight", float, per_model=True), Param("density", float, 1.0, per_model=True),
            Param("normalize", bool, normalize), Param("rescale", bool, rescale),
            Param("lambda", float, 1.0), Param("int8_mask", bool, False), *extra)


GAMMA = Param("gamma", float, 0.01, per_model=True)
"""Breadcrumbs: the share of largest-magnitude entries dropped as outliers."""
EPSILON = Param("epsilon", float, 0.15, per_model=True)
"""DELLA: keep probabilities run from density − ε to density + ε by magnitude rank."""


def _magnitude(density: list[float], rescale: bool) -> Prune:
    return lambda delta, i: magnitude_pruned(delta, density[i], rescale)


def _random(inputs: Inputs, density: list[float], rescale: bool) -> Prune:
    return lambda delta, i: randomly_dropped(delta, density[i], rescale,
                                             inputs.mask(delta, density[i], i) if density[i] < 1 else None)


def _outliers(density: list[float], gamma: list[float], rescale: bool) -> Prune:
    return lambda delta, i: outliers_pruned(delta, density[i], gamma[i], rescale)


def _magprune(inputs: Inputs, density: list[float], epsilon: list[float], rescale: bool) -> Prune:
    return lambda delta, i: magnitude_sampled(delta, density[i], epsilon[i], rescale,
                                              lambda rows, p: inputs.mask(rows, p, i), i)


@merge_method("task_arithmetic", *_task_vector_params(False, False), needs_base=True,
              paper="https://arxiv.org/abs/2212.04089")
def task_arithmetic(inputs: Inputs, weight: list[float], density: list[float], normalize: bool,
                    rescale: bool, lambda_: float, int8_mask: bool) -> Tensor:
    return combine_task_vectors(inputs, weight, None, elect_sign=False, normalize=normalize, lambda_=lambda_)


@merge_method("ties", *_task_vector_params(True, False), needs_base=True,
              paper="https://arxiv.org/abs/2306.01708")
def ties(inputs: Inputs, weight: list[float], density: list[float], normalize: bool, rescale: bool,
         lambda_: float, int8_mask: bool) -> Tensor:
    return combine_task_vectors(inputs, weight, _magnitude(density, rescale), elect_sign=True,
                                normalize=normalize, lambda_=lambda_)


@merge_method("dare_linear", *_task_vector_params(False, True), needs_base=True,
              paper="https://arxiv.org/abs/2311.03099")
def dare_linear(inputs: Inputs, weight: list[float], density: list[float], normalize: bool,
                rescale: bool, lambda_: float, int8_mask: bool) -> Tensor:
    return combine_task_vectors(inputs, weight, _random(inputs, density, rescale), elect_sign=False,
                                normalize=normalize, lambda_=lambda_)


@merge_method("dare_ties", *_task_vector_params(False, True), needs_base=True,
              paper="https://arxiv.org/abs/2311.03099")
def dare_ties(inputs: Inputs, weight: list[float], density: list[float], normalize: bool,
              rescale: bool, lambda_: float, int8_mask: bool) -> Tensor:
    return combine_task_vectors(inputs, weight, _random(inputs, density, rescale), elect_sign=True,
                                normalize=normalize, lambda_=lambda_)


def _breadcrumbs(elect_sign: bool) -> Callable[..., Tensor]:
    def method(inputs: Inputs, weight: list[float], density: list[float], normalize: bool, rescale: bool,
               lambda_: float, int8_mask: bool, gamma: list[float]) -> Tensor:
        return combine_task_vectors(inputs, weight, _outliers(density, gamma, rescale), elect_sign=elect_sign,
                                    normalize=normalize, lambda_=lambda_)
    return method


def _della(elect_sign: bool) -> Callable[..., Tensor]:
    def method(inputs: Inputs, weight: list[float], density: list[float], normalize: bool, rescale: bool,
               lambda_: float, int8_mask: bool, epsilon: list[float]) -> Tensor:
        return combine_task_vectors(inputs, weight, _magprune(inputs, density, epsilon, rescale),
                                    elect_sign=elect_sign, normalize=normalize, lambda_=lambda_)
    return method


# Model Breadcrumbs (with and without TIES's sign election) and DELLA (TIES's election with
# normalisation, or linear), with mergekit's defaults
merge_method("breadcrumbs", *_task_vector_params(False, False, GAMMA), needs_base=True,
             paper="https://arxiv.org/abs/2312.06795")(_breadcrumbs(elect_sign=False))
merge_method("breadcrumbs_ties", *_task_vector_params(False, False, GAMMA), needs_base=True,
             paper="https://arxiv.org/abs/2312.06795")(_breadcrumbs(elect_sign=True))
merge_method("della", *_task_vector_params(True, True, EPSILON), needs_base=True,
             paper="https://arxiv.org/abs/2406.11617")(_della(elect_sign=True))
merge_method("della_linear", *_task_vector_params(False, True, EPSILON), needs_base=True,
             paper="https://arxiv.org/abs/2406.11617")(_della(elect_sign=False))


# --- model stock and passthrough --------------------------------------------------------------

@merge_method("model_stock", Param("filter_wise", bool, False), needs_base=True, min_inputs=3,
              paper="https://arxiv.org/abs/2403.19522")
def model_stock(inputs: Inputs, filter_wise: bool) -> Tensor:
    """Interpolate between the base and the fine-tuned average by the mean angle between the
    fine-tuned models' offsets: t = N·cos / (1 + (N − 1)·cos) (per row when filter_wise)."""
    w0, ws = inputs.base, inputs.others
    shape = w0.shape
    if filter_wise:
        w0, ws = (w0.unsqueeze(0), [w.unsqueeze(0) for w in ws]) if w0.dim() == 1 else (w0, ws)
    else:
        w0, ws = w0.reshape(-1), [w.reshape(-1) for w in ws]
    offsets = [w - w0 for w in ws]
    cosines = []
    for i, a in enumerate(offsets):
        for b in offsets[i + 1:]:
            norms = (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)).clamp(min=1e-6)
            cosines.append(((a * b).sum(dim=-1) / norms).clamp(-1, 1))
    cos = torch.stack(cosines).mean(dim=0).unsqueeze(-1)
    n = len(ws)
    denominator = 1 + (n - 1) * cos
    singular = denominator.abs() < 1e-6  # no finite estimate: keep the base
    t = torch.where(singular, torch.zeros_like(cos), n * cos / torch.where(singular, 1.0, denominator))
    return (t * (sum(ws) / n) + (1 - t) * w0).reshape(shape)


@merge_method("passthrough", Param("scale", float, None, per_model=True, with_base=True), max_inputs=1)
def passthrough(inputs: Inputs, scale: list[Optional[float]]) -> Tensor:
    """The one input as it is (slices stacking layers of several models), optionally scaled."""
    return inputs.tensors[0] if scale[0] is None else inputs.tensors[0] * scale[0]
