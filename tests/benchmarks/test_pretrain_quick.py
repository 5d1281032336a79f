"""The pretrain benchmark's pieces on the ~1M model: same answers, one timed worker run each."""

import argparse

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("pretrain", "transformers", "torch")


def test_same_answers_and_a_timed_run_of_each_tool(bench, tmp_path):
    import torch

    torch.set_num_threads(1)
    paths = bench.prepare(tmp_path, "1m")
    check = bench.same_answers(paths, "1m")
    assert check["ok"], check
    args = argparse.Namespace(steps=1, warmup=0, threads=1)
    for tool in ("jaforge", "hf"):
        result = bench.timed_run(tool, "1m", paths, args)
        assert result["seconds"] > 0 and len(result["losses"]) == 1 and result["max_rss_mb"] > 0
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
    assert bench.matmul_peak(1, n=128, repeats=2) > 0
