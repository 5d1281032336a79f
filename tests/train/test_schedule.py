"""Learning-rate schedules: warmup, then each decay shape's value at its key steps."""

import math

import pytest

from jaforge.train.config import ScheduleConfig
from jaforge.train.schedule import LRSchedule


def factors(name: str, steps: list[int], **kw) -> list[float]:
    schedule = LRSchedule(ScheduleConfig(name=name, warmup_steps=10, min_lr_ratio=0.1, **kw), 110)
    return [schedule.factor(s) for s in steps]


def test_warmup_is_linear_and_reaches_the_peak():
    assert factors("cosine", [0, 4, 9]) == pytest.approx([0.1, 0.5, 1.0])


def test_cosine_halfway_and_end():
    start, middle, end = factors("cosine", [10, 60, 110])
    assert start == pytest.approx(1.0)
    assert middle == pytest.approx(0.1 + 0.9 * 0.5)
    assert end == pytest.approx(0.1)


def test_linear_decays_evenly_to_the_floor():
    assert factors("linear", [10, 35, 60, 110]) == pytest.approx([1.0, 1 - 0.9 / 4, 0.55, 0.1])


def test_wsd_is_flat_until_the_decay_fraction_then_falls_to_the_floor():
    flat, last_flat, mid_decay, end = factors("wsd", [10, 87, 99, 110], decay_fraction=0.2)
    assert flat == last_flat == 1.0
    assert mid_decay == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(0.5)))
    assert end == pytest.approx(0.1)


def test_constant_after_warmup():
    assert factors("constant", [10, 50, 109]) == [1.0, 1.0, 1.0]


def test_apply_scales_each_group_from_its_own_base_lr():
    import torch

    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0}, {"params": [], "lr": 0.5}])
    LRSchedule(ScheduleConfig(name="cosine", warmup_steps=10), 110).apply(opt, 4)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.25])


def test_unknown_schedule_suggests_a_name():
    with pytest.raises(KeyError, match="did you mean 'cosine'"):
        LRSchedule(ScheduleConfig(name="cosin"), 10)
