"""CycleQD's archives: one MAP-Elites grid per task. A model's quality in the archive of task k is
its metric on k; its cell is given by its metrics on the other tasks, each binned over a range.

    archive = Archive("jnli", ["jsquad", "instruct"], ranges, bins=15)
    archive.insert(Elite("g0003-c01", metrics))   # True when the cell was empty or the child is better
    archive.to_json(); Archive.from_json(data)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Elite:
    id: str
    metrics: dict[str, float]


@dataclass
class Archive:
    task: str
    axes: list[str]
    """The other tasks, whose metrics place a model in the grid."""
    ranges: dict[str, tuple[float, float]]
    bins: int = 15
    cells: dict[tuple[int, ...], Elite] = field(default_factory=dict)

    def cell(self, metrics: dict[str, float]) -> tuple[int, ...]:
        """The bin of each axis; values outside the range fall into the first or last bin."""
        out = []
        for axis in self.axes:
            low, high = self.ranges[axis]
            position = (metrics[axis] - low) / (high - low) if high > low else 0.0
            out.append(min(self.bins - 1, max(0, math.floor(position * self.bins))))
        return tuple(out)

    def quality(self, elite: Elite) -> float:
        return elite.metrics[self.task]

    def insert(self, elite: Elite) -> bool:
        """MAP-Elites: the model takes its cell if the cell is empty or it beats the occupant."""
        key = self.cell(elite.metrics)
        current = self.cells.get(key)
        if current is None or self.quality(elite) > self.quality(current):
            self.cells[key] = elite
            return True
        return False

    def elites(self) -> list[Elite]:
        return [self.cells[k] for k in sorted(self.cells)]

    def best(self) -> Elite:
        return max(self.elites(), key=self.quality)

    def coverage(self) -> float:
        return len(self.cells) / self.bins ** len(self.axes)

    def to_json(self) -> dict:
        return {"task": self.task, "axes": self.axes, "bins": self.bins,
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "cells": [{"cell": list(k), "id": e.id, "metrics": e.metrics} for k, e in sorted(self.cells.items())]}

    @classmethod
    def from_json(cls, data: dict) -> "Archive":
        archive = cls(data["task"], list(data["axes"]), {k: tuple(v) for k, v in data["ranges"].items()}, data["bins"])
        archive.cells = {tuple(c["cell"]): Elite(c["id"], c["metrics"]) for c in data["cells"]}
        return archive
