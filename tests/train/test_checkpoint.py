"""Checkpoint files: only complete (renamed) checkpoints count, the last K are kept, resume modes."""

import pytest
import torch

from jaforge.config import build
from jaforge.train.checkpoint import latest_checkpoint, resolve_resume, step_dirs
from jaforge.train.config import PretrainConfig
from jaforge.train.metrics import MetricsLog, read_metrics
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config

torch.set_num_threads(1)


def test_half_written_checkpoints_are_ignored_and_the_last_k_kept(tmp_path, token_dirs):
    out = tmp_path / "run"
    run(build(PretrainConfig, tiny_run_config(token_dirs, out, max_steps=7, checkpoint_every=2,
                                              keep_last=2, eval_every=0)))
    assert [p.name for p in step_dirs(out)] == ["step-00000006", "step-00000007"]
    junk = out / "checkpoints" / ".tmp-step-00000099"  # what a kill during a save leaves
    junk.mkdir()
    (junk / "trainer_state.pt").write_bytes(b"cut short")
    assert latest_checkpoint(out).name == "step-00000007"
    state = torch.load(latest_checkpoint(out) / "trainer_state.pt", weights_only=False)
    assert state["step"] == state["data_position"] == 7 and "optimizer" in state
    assert (latest_checkpoint(out) / "rng-rank0.pt").exists()


def test_resume_modes(tmp_path):
    assert resolve_resume("never", tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None  # nothing there yet: a fresh start
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        resolve_resume(str(tmp_path), tmp_path)


def test_metrics_rows_past_the_checkpoint_and_cut_lines_are_dropped(tmp_path):
    lines = [f'{{"step": {i}, "loss": {i / 10}}}' for i in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6, "lo')
    MetricsLog(tmp_path, ["step", "loss"], resume_step=3)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1:] == ["1,0.1", "2,0.2", "3,0.3"]
