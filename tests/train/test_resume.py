"""THE trainer guarantee: a run killed with SIGKILL at a random step and started again with the same
command logs a bit-identical loss curve to a run never interrupted (CPU)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from jaforge.config import build
from jaforge.train.config import PretrainConfig, TrainerConfig
from jaforge.train.metrics import read_metrics
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config, write_yaml

CURVE = ("step", "loss", "lr", "grad_norm", "tokens", "val_loss", "val_loss/ja", "val_loss/en")


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "jaforge.cli", "pretrain", "--config", str(config)]


def curve(run_dir: Path) -> list[tuple]:
    return [tuple(row.get(k) for k in CURVE) for row in read_metrics(run_dir / "metrics.jsonl")]


def last_step(metrics: Path) -> int:
    rows = read_metrics(metrics) if metrics.exists() else []
    return rows[-1]["step"] if rows else 0


def kill_at(config: Path, run_dir: Path, step: int) -> int:
    """Start the run, SIGKILL its process group once `step` is logged; returns the step reached."""
    proc = subprocess.Popen(command(config), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while last_step(run_dir / "metrics.jsonl") < step and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never reached the step to kill at"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return last_step(run_dir / "metrics.jsonl")


def test_killed_and_resumed_run_logs_the_same_losses(tmp_path, token_dirs):
    straight = tmp_path / "straight"
    run(build(PretrainConfig, tiny_run_config(token_dirs, straight)))  # in-process: one start-up less
    expected = curve(straight)
    assert [r[0] for r in expected] == list(range(1, 25))

    resumed = tmp_path / "resumed"
    config = write_yaml(tmp_path / "b.yaml", tiny_run_config(token_dirs, resumed))
    kill_step = random.randint(4, 20)
    reached = kill_at(config, resumed, kill_step)
    assert reached < 24, f"the run finished before the kill (asked step {kill_step})"
    assert any((resumed / "checkpoints").glob("step-*")), "no checkpoint written before the kill"
    subprocess.run(command(config), check=True, capture_output=True)
    assert curve(resumed) == expected, f"curves differ after a kill at step {reached}"


def test_a_finished_run_extends_from_its_last_checkpoint(tmp_path, token_dirs):
    run_dir = tmp_path / "run"
    run(build(PretrainConfig, tiny_run_config(token_dirs, run_dir, max_steps=6)))
    first = curve(run_dir)
    extend = TrainerConfig().resume_may_change + ["trainer.max_steps"]  # a longer schedule: allowed
    run(build(PretrainConfig, tiny_run_config(token_dirs, run_dir, max_steps=9, resume_may_change=extend)))
    extended = curve(run_dir)
    assert extended[:6] == first and [r[0] for r in extended] == list(range(1, 10))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-00000006", "step-00000009"]
