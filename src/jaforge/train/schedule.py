"""Learning-rate schedules with linear warmup: cosine, wsd (warmup-stable-decay), linear, constant.

    schedule = LRSchedule(ScheduleConfig(name="cosine", warmup_steps=100), total_steps=10_000)
    schedule.factor(step)          # multiplier of the optimiser's base learning rate at `step`
    schedule.apply(optimizer, step)

The schedule's only state is the step it was last applied at; `state_dict` keeps it so a resumed run
sets exactly the learning rate the uninterrupted run would have.
"""

from __future__ import annotations

import math
from typing import Callable

from jaforge.registry import Registry
from jaforge.train.config import ScheduleConfig

# A decay shape maps progress p in [0, 1] through the decay phase to a factor in [0, 1] (1 → 0).
DECAYS: Registry[Callable[[float], float]] = Registry("schedule")


@DECAYS.register("cosine")
def cosine_decay(p: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * p))


@DECAYS.register("linear")
def linear_decay(p: float) -> float:
    return 1.0 - p


@DECAYS.register("constant")
def constant_decay(p: float) -> float:
    return 1.0


@DECAYS.register("wsd")
def wsd_decay(p: float) -> float:
    """Warmup-stable-decay: the stable/decay split is handled by LRSchedule; the decay is 1 - sqrt."""
    return 1.0 - math.sqrt(p)


class LRSchedule:
    """Learning-rate factor per optimiser step: warmup, then the named decay down to `min_lr_ratio`."""

    def __init__(self, cfg: ScheduleConfig, total_steps: int):
        self.cfg = cfg
        self.total_steps = max(1, total_steps)
        self.decay = DECAYS.get(cfg.name)
        self.last_step = -1

    def _decay_start(self) -> int:
        if self.cfg.name == "wsd":
            return max(self.cfg.warmup_steps,
                       round(self.total_steps * (1.0 - self.cfg.decay_fraction)))
        return self.cfg.warmup_steps

    def factor(self, step: int) -> float:
        """Multiplier at `step` (0-based): rises linearly to 1 over warmup, then decays."""
        warmup = self.cfg.warmup_steps
        if step < warmup:
            return (step + 1) / warmup
        start = self._decay_start()
        if step < start:
            return 1.0
        span = max(1, self.total_steps - start)
        progress = min(1.0, (step - start) / span)
        floor = self.cfg.min_lr_ratio
        return floor + (1.0 - floor) * self.decay(progress)

    def apply(self, optimizer, step: int) -> float:
        """Set every parameter group's lr to its `initial_lr` × factor(step); returns the factor."""
        f = self.factor(step)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * f
        self.last_step = step
        return f

    def state_dict(self) -> dict:
        return {"name": self.cfg.name, "last_step": self.last_step, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])
