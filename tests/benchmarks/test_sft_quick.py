"""The sft benchmark's pieces on its small model: jaforge and TRL give the same losses."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("trl", reason="trl (the benchmark's peer) is not installed")
    pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")
    spec = importlib.util.spec_from_file_location("sft_bench", REPO / "benchmarks" / "sft.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_same_losses_and_a_timed_run_of_each_tool(bench, tmp_path):
    import torch

    torch.set_num_threads(1)
    paths = bench.prepare(tmp_path)
    check = bench.same_answers(paths, threads=1, steps=2)
    assert check["ok"] and len(check["trl_losses"]) == 2, check
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
