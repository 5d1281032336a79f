"""The eval benchmark's pieces on a tiny input: same answers as lm-eval, one timed run of each."""

import argparse

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("eval", "lm_eval", "transformers")


def test_same_answers_and_a_timed_run_of_each_tool(bench, tmp_path):
    import torch

    torch.set_num_threads(1)
    model = bench.prepare(tmp_path, quick=True)
    args = argparse.Namespace(shots=1, threads=1, batch_size=3, peer_batches=[2], limit=4, rounds=1)
    check = bench.same_answers(model, tmp_path, args)
    assert check["ok"] and check["examples"] == 4 and list(check["peers"]) == ["lm-eval (batch 2)"], check
    runs = bench.timed_rounds(model, tmp_path, args)
    assert list(runs) == ["jaforge", "lm-eval (batch 2)"]
    for (result,) in runs.values():
        assert result["seconds"] > 0 and result["examples"] == 4 and result["max_rss_mb"] > 0
    assert bench.prompt_tokens(model, args)["max"] > bench.prompt_tokens(model, args)["min"] > 10
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
