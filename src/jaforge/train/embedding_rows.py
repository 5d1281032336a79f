"""Per-row learning rates of the embedding and output tables, for an expanded vocabulary: the new
rows at their own rate (`trainer.new_rows_lr`), the base's rows frozen for the first steps
(`trainer.freeze_old_rows_steps`).

    rates = RowRates(model, base_rows=32000, new_ratio=10.0, freeze_steps=100)
    with rates.around(step, stepped):      # stepped(p): the tensor the optimiser updates for p
        optimizer.step()

Rows of one tensor cannot sit in different optimiser parameter groups, so the step's change of a
row range is scaled after the fact: row ← before + factor·(after − before). Every optimiser here
(AdamW, Lion, Adafactor, Muon's AdamW part) moves a parameter by the learning rate times an update
that its state alone decides (decoupled weight decay included), so this is exactly the step at
factor × the learning rate; factor 0 freezes the rows (their optimiser state still follows the
gradients). Only the changed rows are copied, and only on steps where a factor is not 1.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch


class RowRates:
    """Scales each step's change of the new rows (by `new_ratio`) and of the old rows (by 0 while
    `step < freeze_steps`) of the model's token embedding and output head."""

    def __init__(self, model: torch.nn.Module, base_rows: int, new_ratio: float, freeze_steps: int):
        tables = [model.tok_embeddings.weight, model.lm_head.weight]
        self.tables = list({id(t): t for t in tables}.values())  # a tied head is the embedding
        self.base_rows = base_rows
        self.new_ratio = new_ratio
        self.freeze_steps = freeze_steps

    @property
    def active(self) -> bool:
        return self.new_ratio != 1.0 or self.freeze_steps > 0

    def factors(self, step: int) -> list[tuple[slice, float]]:
        """(rows, factor) whose factor is not 1 at `step`."""
        found = [(slice(0, self.base_rows), 0.0 if step < self.freeze_steps else 1.0),
                 (slice(self.base_rows, None), self.new_ratio)]
        return [(rows, f) for rows, f in found if f != 1.0]

    @contextlib.contextmanager
    def around(self, step: int, stepped: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
        """Wrap the optimiser step of `step` (0-based)."""
        scaled = self.factors(step)
        if not scaled:
            yield
            return
        with torch.no_grad():
            before = [(stepped(t), rows, f, stepped(t)[rows].clone()) for t in self.tables
                      for rows, f in scaled]
        yield
        with torch.no_grad():
            for table, rows, factor, old in before:
                table[rows] = torch.lerp(old, table[rows], factor)
