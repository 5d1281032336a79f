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
    for tool in ("jaforge", "hf", "floor"):
        result = bench.timed_run(tool, "1m", paths, args)
        assert result["seconds"] > 0 and len(result["losses"]) == 1 and result["max_rss_mb"] > 0
    assert bench.ratio_stats([2.0, 3.0], [1.0, 1.0]) == {"median": 2.5, "min": 2.0, "max": 3.0}
    assert bench.matmul_peak(1, n=128, repeats=2) > 0


def test_kernel_floor_runs_the_steps_matmuls_and_attention_kernels(bench, tmp_path):
    """The floor's ceiling on the ratio holds only if it does the same kernel work as a real step:
    the same matrix-multiply FLOPs and the same attention kernel calls, forward and backward."""
    import collections

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class CountOps(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.calls = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.calls[str(func.overloadpacket)] += 1
            return func(*args, **(kwargs or {}))

    def kernels(step):
        with FlopCounterMode(display=False) as flops, CountOps() as ops:
            step(0)
        attention = {name: n for name, n in ops.calls.items() if "scaled_dot_product" in name}
        return flops.get_flop_counts()["Global"], attention

    torch.set_num_threads(1)
    paths = bench.prepare(tmp_path, "1m")
    real_flops, real_attention = kernels(bench.jaforge_stepper(paths, "1m"))
    floor_flops, floor_attention = kernels(bench.kernel_floor_stepper("1m"))
    n_layer = bench.SIZES["1m"]["model"]["n_layer"]
    assert real_flops == floor_flops and sum(real_flops.values()) > 0
    assert real_attention == floor_attention and set(floor_attention.values()) == {n_layer}
