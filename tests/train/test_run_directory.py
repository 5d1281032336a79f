"""One run per output directory: a second process on a busy directory fails clearly; a resumed run
that changes what the run means (model shape, learning rate) is refused, naming the keys, before
anything in the directory changes; operational changes and keys in trainer.resume_may_change pass."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from jaforge.config import build
from jaforge.errors import RunDirError
from jaforge.rundir import LOCK_NAME
from jaforge.train.config import PretrainConfig, TrainerConfig
from jaforge.train.metrics import read_metrics
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config, write_yaml

torch.set_num_threads(1)


def snapshot(directory):
    """Every file's relative path, size, mtime and content hash (but the lock's holder record)."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns,
                                             hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


def tiny(token_dirs, out, model=None, optim=None, **trainer):
    data = tiny_run_config(token_dirs, out, **{"max_steps": 4, "eval_every": 0, **trainer})
    data["model"].update(model or {})
    data["optim"].update(optim or {})
    return data


def test_a_second_process_on_a_busy_directory_fails_clearly(tmp_path, token_dirs):
    out = tmp_path / "run"
    config = write_yaml(tmp_path / "c.yaml", tiny(token_dirs, out, max_steps=100000, checkpoint_every=0))
    command = [sys.executable, "-m", "jaforge.cli", "pretrain", "--config", str(config)]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() or not read_metrics(out / "metrics.jsonl"):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
            time.sleep(0.02)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 1
    assert "is in use by another run (jaforge pretrain, pid" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr  # one line, no traceback


def test_a_changed_model_shape_is_refused_before_anything_changes(tmp_path, token_dirs):
    out = tmp_path / "run"
    run(build(PretrainConfig, tiny(token_dirs, out)))
    before = snapshot(out)
    with pytest.raises(RunDirError) as refused:
        run(build(PretrainConfig, tiny(token_dirs, out, model={"d_model": 64}, optim={"lr": 1e-3})))
    assert "model.d_model: 32 → 64" in str(refused.value) and "optim.lr: 0.003 → 0.001" in str(refused.value)
    assert snapshot(out) == before


def test_operational_and_listed_changes_resume(tmp_path, token_dirs):
    out = tmp_path / "run"
    run(build(PretrainConfig, tiny(token_dirs, out)))
    first = read_metrics(out / "metrics.jsonl")
    allowed = TrainerConfig().resume_may_change + ["trainer.max_steps", "optim.lr"]
    run(build(PretrainConfig, tiny(token_dirs, out, optim={"lr": 1e-3}, max_steps=6, log_every=2,
                                   progress=True, keep_last=1, resume_may_change=allowed)))
    rows = read_metrics(out / "metrics.jsonl")
    assert rows[:4] == first and [r["step"] for r in rows[4:]] == [6]
    assert "lr: 0.001" in (out / "config.yaml").read_text()
    with pytest.raises(RunDirError, match="trainer.max_steps: 6 → 8"):  # not listed by default
        run(build(PretrainConfig, tiny(token_dirs, out, max_steps=8)))
