"""Checkpoint files: complete ones carry a manifest written last, the last K are kept, resume modes,
and a damaged newest checkpoint gives way to the one before it (with a warning naming it)."""

import logging

import pytest
import torch

from jaforge.config import build
from jaforge.errors import ConfigError, InputError
from jaforge.train.checkpoint import MANIFEST, damage, latest_checkpoint, resolve_resume, step_dirs
from jaforge.train.config import PretrainConfig
from jaforge.train.metrics import MetricsLog, read_metrics
from jaforge.train.state_files import read_state
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, token_dirs):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    run(build(PretrainConfig, tiny_run_config(token_dirs, out, max_steps=7, checkpoint_every=2,
                                              keep_last=2, eval_every=0)))
    return out


def test_half_written_checkpoints_are_ignored_and_the_last_k_kept(finished_run):
    out = finished_run
    assert [p.name for p in step_dirs(out)] == ["step-00000006", "step-00000007"]
    junk = out / "checkpoints" / ".tmp-step-00000099"  # what a kill during a save leaves
    junk.mkdir(exist_ok=True)
    (junk / "trainer_state.json").write_bytes(b"cut short")
    newest = latest_checkpoint(out)
    assert newest.name == "step-00000007" and damage(newest) is None
    state = read_state(newest, "trainer_state")
    assert state["step"] == state["data_position"] == 7 and state["optimizer"]["state"]
    assert (newest / "rng-rank0.json").exists() and (newest / MANIFEST).exists()
    assert not list(newest.rglob("*.pt"))  # nothing pickled


def test_resume_modes(tmp_path):
    assert resolve_resume("never", tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None  # nothing there yet: a fresh start
    with pytest.raises(ConfigError, match="not a checkpoint"):
        resolve_resume(str(tmp_path / "nowhere"), tmp_path)
    with pytest.raises(InputError, match="never completed"):
        resolve_resume(str(tmp_path), tmp_path)


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage_kind", ["truncate", "flip", "delete", "manifest"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(finished_run, tmp_path, caplog,
                                                                     damage_kind):
    out = _copy(finished_run, tmp_path / "run")
    newest = out / "checkpoints" / "step-00000007"
    weights = newest / "model" / "model.safetensors"
    if damage_kind == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage_kind == "flip":
        data = bytearray((newest / "trainer_state.safetensors").read_bytes())
        data[-1] ^= 0xFF
        (newest / "trainer_state.safetensors").write_bytes(bytes(data))
    elif damage_kind == "delete":
        (newest / "rng-rank0.json").unlink()
    else:
        (newest / MANIFEST).unlink()
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(out).name == "step-00000006"
    assert "step-00000007" in caplog.text and "damaged" in caplog.text


def test_every_checkpoint_damaged_is_a_clear_error(finished_run, tmp_path):
    out = _copy(finished_run, tmp_path / "run")
    for directory in step_dirs(out):
        (directory / "trainer_state.json").write_text("{")
    with pytest.raises(InputError, match="no complete checkpoint"):
        latest_checkpoint(out)


def test_metrics_rows_past_the_checkpoint_and_cut_lines_are_dropped(tmp_path):
    lines = [f'{{"step": {i}, "loss": {i / 10}}}' for i in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6, "lo')
    MetricsLog(tmp_path, ["step", "loss"], resume_step=3)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1:] == ["1,0.1", "2,0.2", "3,0.3"]
