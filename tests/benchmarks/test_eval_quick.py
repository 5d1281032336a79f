"""The eval benchmark's pieces on a tiny input: same answers as lm-eval (choices and generations,
on the truncated window), one timed run of each tool, the summary's ratios and per-task rates."""

import argparse

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("eval", "lm_eval", "transformers")


def test_same_answers_and_a_timed_run_of_each_tool(bench, tmp_path):
    import torch

    torch.set_num_threads(1)
    model = bench.prepare(tmp_path, "cpu", quick=True)
    args = argparse.Namespace(threads=1, batch_size=3, peer_batches=["2"], limit=3, rounds=1, device="cpu",
                              dtype="float32", data_dir=None, tasks=["jnli", "jsquad"], windows=["truncated"])
    check = bench.same_answers(model, tmp_path, args)
    assert check["ok"] and list(check["checks"]) == ["truncated, lm-eval (batch 2)"], check
    assert check["checks"]["truncated, lm-eval (batch 2)"]["examples"] == 6
    runs = bench.timed_rounds(model, tmp_path, args)
    assert list(runs["truncated"]) == ["jaforge", "lm-eval (batch 2)"]
    for (result,) in runs["truncated"].values():
        assert result["seconds"] > result["load"] > 0 and result["examples"] == {"jnli": 3, "jsquad": 3}
    summary = bench.summarize(runs, args)["truncated"]
    assert set(summary["peers"]["lm-eval (batch 2)"]["ratio_per_task"]) == {"jnli", "jsquad"}
    assert summary["examples_per_s"]["jaforge"]["jnli"] > 0
    tokens = bench.prompt_tokens(model, args)
    assert tokens["jsquad"]["max"] > tokens["jnli"]["min"] > 100 and tokens["jnli"]["shots"] == 3
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
    work = bench.token_work(model, args)["truncated"]
    assert set(work) == {"jnli"}  # generation tasks run one prompt per example in both tools
    assert work["jnli"]["lm_eval_tokens"] == 3 * 3 * 256  # every choice on its own full window
    assert work["jnli"]["jaforge_tokens"] < work["jnli"]["lm_eval_tokens"]
