"""The loop's device-side mechanics on CPU: the next step's batches are prepared while this one
runs, no micro-batch reads a value back to the host (only logged steps do), device selection,
bf16 parameters with fp32 masters (resuming exactly), activation checkpointing, memory in the
metrics, the parameter count in the log, and the StageResult."""

import collections
import logging
import shutil
import threading

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from jaforge.config import build
from jaforge.errors import ConfigError
from jaforge.train.config import PretrainConfig
from jaforge.train.device import Prefetcher, resolve_device
from jaforge.train.loop import TrainingLoop
from jaforge.train.metrics import read_metrics
from jaforge.train.trainer import PretrainTask, run

from .tiny_setup import tiny_run_config

torch.set_num_threads(1)
CURVE = ("step", "loss", "lr", "grad_norm", "tokens", "val_loss")


def config(token_dirs, out, **trainer):
    cfg = tiny_run_config(token_dirs, out, **{"max_steps": 6, "eval_every": 3, **trainer})
    cfg["model"]["dropout"] = 0.0
    return build(PretrainConfig, cfg)


def curve(out):
    return [tuple(r.get(k) for k in CURVE) for r in read_metrics(out / "metrics.jsonl")]


class HostReads(TorchDispatchMode):
    """Counts the op behind .item(), float(t) and bool(t): a wait for the device on CUDA."""

    def __init__(self):
        super().__init__()
        self.calls = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def reads(self) -> int:
        return self.calls["aten._local_scalar_dense"]


def test_the_next_steps_batches_are_prepared_while_this_step_runs():
    started = {s: threading.Event() for s in range(4)}

    def prepare(step):
        started[step].set()
        return step

    batches = Prefetcher(prepare, end=4)
    for step in range(4):
        assert batches.get(step) == step
        if step + 1 < 4:  # without prefetching nothing would prepare step + 1 now: this would time out
            assert started[step + 1].wait(timeout=10), f"step {step + 1} was not prepared ahead"
    batches.close()
    assert Prefetcher(lambda s: s * 2, end=3, enabled=False).get(2) == 4


def test_no_micro_batch_reads_back_to_the_host(tmp_path, token_dirs):
    reads = {}
    for micro in (8, 2):  # one micro-batch per step, or four
        loop = TrainingLoop(PretrainTask(config(token_dirs, tmp_path / f"m{micro}", micro_batch_size=micro)))
        loop.prepare()
        loop.train_step(0)
        with HostReads() as counter:
            outputs = [loop.train_step(step) for step in range(1, 4)]
        reads[micro] = counter.reads
        with HostReads() as counter:
            loop.read_row(outputs[-1])
        assert counter.reads == 2  # the logged step reads its loss and gradient norm, once
    assert reads == {8: 0, 2: 0}


def test_a_run_reads_the_device_only_at_logged_steps(tmp_path, token_dirs):
    reads = {}
    for log_every in (1, 4):
        cfg = config(token_dirs, tmp_path / f"l{log_every}", max_steps=8, eval_every=0,
                     log_every=log_every, micro_batch_size=2)
        with HostReads() as counter:
            run(cfg)
        reads[log_every] = counter.reads
        assert len(read_metrics(tmp_path / f"l{log_every}" / "metrics.jsonl")) == 8 // log_every
    assert reads[1] == 4 * reads[4]  # proportional to the rows logged, not to steps or micro-batches


def test_device_setting(monkeypatch):
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(ConfigError, match="trainer.device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="trainer.device: 'cuda:1' asks for CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda", local_rank=1) == "cuda:1" and resolve_device("cuda:0", 1) == "cuda:0"
    with pytest.raises(ConfigError, match="only 2 CUDA"):
        resolve_device("cuda:2")


def test_bf16_parameters_train_with_fp32_masters_and_resume_exactly(tmp_path, token_dirs):
    switches = dict(precision="bf16", param_dtype="bf16", checkpoint_every=3, keep_last=0)
    loop = TrainingLoop(PretrainTask(config(token_dirs, tmp_path / "probe", **switches)))
    loop.prepare()
    loop.train_step(0)
    assert {p.dtype for p in loop.raw.parameters()} == {torch.bfloat16}
    states = [t for s in loop.optimizer.state.values() for t in s.values() if t.dim() > 0]
    assert states and {t.dtype for t in states} == {torch.float32}
    assert all(m.dtype == torch.float32 for m in loop.optimizer.param_groups[0]["params"])

    straight = tmp_path / "straight"
    run(config(token_dirs, straight, **switches))
    rows = read_metrics(straight / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"]
    resumed = tmp_path / "resumed"  # as if killed after step 4: the step-3 checkpoint is the newest
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000006")
    (resumed / "metrics.jsonl").write_text("".join(
        line + "\n" for line in (resumed / "metrics.jsonl").read_text().splitlines()[:4]))
    run(config(token_dirs, resumed, **switches))
    assert curve(resumed) == curve(straight)


def test_bf16_parameters_need_bf16_precision(tmp_path, token_dirs):
    with pytest.raises(ConfigError, match="param_dtype bf16 needs trainer.precision bf16"):
        run(config(token_dirs, tmp_path / "x", param_dtype="bf16"))


def saved_activation_bytes(token_dirs, out, checkpointing: bool) -> tuple[int, float]:
    loop = TrainingLoop(PretrainTask(config(token_dirs, out, activation_checkpointing=checkpointing)))
    loop.prepare()
    batch = loop.next_data(0).batches[0]
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = loop.task.loss(loop.model, batch)
    loss.backward()
    grad = sum(float(p.grad.abs().sum()) for p in loop.raw.parameters() if p.grad is not None)
    return sum(saved), grad


def test_activation_checkpointing_keeps_less_and_computes_the_same(tmp_path, token_dirs):
    kept, grad = saved_activation_bytes(token_dirs, tmp_path / "a", checkpointing=False)
    kept_ckpt, grad_ckpt = saved_activation_bytes(token_dirs, tmp_path / "b", checkpointing=True)
    assert kept_ckpt < kept / 2
    assert grad_ckpt == pytest.approx(grad, rel=1e-5)


def test_metrics_memory_parameter_count_and_result(tmp_path, token_dirs, caplog):
    with caplog.at_level(logging.INFO, logger="jaforge.train.loop"):
        result = run(config(token_dirs, tmp_path / "r"))
    assert "pretrain: 37,024 parameters" in caplog.text
    rows = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert all(r["peak_rss_mb"] > 0 for r in rows) and "gpu_peak_mb" not in rows[0]
    assert result.stage == "pretrain" and result.output_dir == str(tmp_path / "r")
    assert set(result.outputs) == {"model", "checkpoints", "metrics"}
    m = result.metrics
    assert m["loss"] == rows[-1]["loss"] and m["val_loss"] == rows[-1]["val_loss"]
    assert m["params"] == 37_024 and m["tokens"] == rows[-1]["tokens"] and m["peak_rss_mb"] > 0
