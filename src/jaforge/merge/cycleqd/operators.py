"""CycleQD's operators: parent selection, crossover of task vectors, SVD mutation.

    parents = select_parents(archive, rng, "elite")               # two elites of the current archive
    spec = ChildSpec("g0003-c01", 3, "jnli", parents, weights=draw_weights(rng, 1.0, 0.1), seed=…)
    θ = child_tensor(θ₀, [θ₁, θ₂], spec.weights, mutation=(−0.1, 0.1), generator=…)

Crossover (model merging): θ = θ₀ + Σ wᵢτᵢ / Σ wᵢ with τᵢ = θᵢ − θ₀ and wᵢ ~ N(mean, std).
Mutation: each parent's task vector τᵢ = UᵢSᵢVᵢᵀ is taken with its singular values scaled by
(1 + εⱼ), εⱼ ~ U(low, high): θ = θ₀ + Σ wᵢ Uᵢ diag((1 + εᵢ)Sᵢ) Vᵢᵀ / Σ wᵢ, i.e. the crossover
child moved along the singular directions of its parents' task vectors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

from jaforge.merge.cycleqd.archive import Archive, Elite


@dataclass
class ChildSpec:
    id: str
    generation: int
    task: str
    """The quality task of the generation (the archive the parents came from)."""
    parents: list[str]
    weights: list[float]
    seed: int
    """Seed of the mutation's ε draws."""

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def _spread(values: np.ndarray, low: float = 0.5, high: float = 1.0) -> np.ndarray:
    span = values.max() - values.min()
    return np.full_like(values, high) if span == 0 else low + (values - values.min()) * (high - low) / span


def select_parents(archive: Archive, rng: np.random.Generator, sampling: str) -> list[Elite]:
    """Two different elites (the same one twice when the archive holds one). `elite` sampling
    favours high quality and high behaviour descriptors (the other tasks' metrics), each spread
    to [0.5, 1] within the archive so that no elite is excluded."""
    elites = archive.elites()
    if len(elites) == 1:
        return [elites[0], elites[0]]
    if sampling == "uniform":
        chosen = rng.choice(len(elites), size=2, replace=False)
    else:
        weights = _spread(np.array([archive.quality(e) for e in elites], dtype=float))
        for axis in archive.axes:
            weights = weights * _spread(np.array([e.metrics[axis] for e in elites], dtype=float))
        chosen = rng.choice(len(elites), size=2, replace=False, p=weights / weights.sum())
    return [elites[i] for i in chosen]


def draw_weights(rng: np.random.Generator, mean: float, std: float, count: int = 2) -> list[float]:
    """wᵢ ~ N(mean, std), redrawn while Σ wᵢ is near 0 (the merge divides by it)."""
    for _ in range(100):
        weights = rng.normal(mean, std, size=count)
        if abs(weights.sum()) > 0.1 * count * max(abs(mean), 1e-3):
            return [float(w) for w in weights]
    return [1.0] * count


def mutation_generator(seed: int, tensor: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}\0{tensor}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def child_tensor(base: torch.Tensor, parents: list[torch.Tensor], weights: list[float],
                 mutation: Optional[tuple[float, float]] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """θ₀ + Σ wᵢτᵢ / Σ wᵢ, each τᵢ's singular values scaled by (1 + ε) when `mutation` = (low, high)."""
    theta0 = base.float()
    total = float(sum(weights))
    child = torch.zeros_like(theta0)
    for parent, w in zip(parents, weights):
        tau = parent.float() - theta0
        if mutation is not None and tau.dim() == 2 and tau.abs().max() > 0:
            u, s, vh = torch.linalg.svd(tau, full_matrices=False)
            low, high = mutation
            epsilon = low + (high - low) * torch.rand(s.shape, generator=generator)
            tau = (u * (s * (1 + epsilon))) @ vh
        child.add_(tau, alpha=w / total)
    return child.add_(theta0).to(base.dtype)
