"""The sft benchmark's pieces on its small model: jaforge and TRL give the same losses."""

import argparse

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("sft", "trl", "peft")


def test_same_losses_and_a_timed_run_of_each_tool(bench, tmp_path):
    import torch

    torch.set_num_threads(1)
    paths = bench.prepare(tmp_path)
    check = bench.same_answers(paths, argparse.Namespace(threads=1, preset="cpu"), steps=2)
    assert check["ok"] and len(check["trl_losses"]) == 2, check
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
