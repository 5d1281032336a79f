"""`trainer.report_to`: TensorBoard event files hold the values metrics.jsonl holds; W&B in offline
mode writes its run files without an account; a missing extra or the removed `trainer.tensorboard`
flag fails before the run directory exists."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")

from jaforge.cli import main  # noqa: E402
from jaforge.config import build  # noqa: E402
from jaforge.extras import MissingExtraError  # noqa: E402
from jaforge.train import PretrainConfig  # noqa: E402
from jaforge.train.metrics import read_metrics  # noqa: E402
from jaforge.train.trainer import run  # noqa: E402

from .tiny_setup import tiny_run_config, write_yaml  # noqa: E402


def pretrain(token_dirs, out, **trainer):
    return run(build(PretrainConfig, tiny_run_config(token_dirs, out, max_steps=6, eval_every=3,
                                                     checkpoint_every=6, **trainer)))


def test_tensorboard_events_equal_metrics_jsonl(token_dirs, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard (the 'tensorboard' extra) is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    pretrain(token_dirs, out, report_to=["tensorboard"])
    events = EventAccumulator(str(out / "tensorboard")).Reload()
    rows = read_metrics(out / "metrics.jsonl")
    for key in ("loss", "lr", "val_loss"):
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        expected = [(r["step"], float(np.float32(r[key]))) for r in rows if key in r]
        assert logged == expected and len(expected) >= 2   # float32, as TensorBoard stores scalars


def test_wandb_offline_writes_its_run_files(token_dirs, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb (the 'wandb' extra) is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    pretrain(token_dirs, out, report_to=["wandb"])
    run_id = (out / "wandb" / "run-id").read_text("utf-8")
    runs = list((out / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1 and (runs[0] / f"run-{run_id}.wandb").stat().st_size > 0


def test_a_missing_tracker_extra_fails_before_the_run_directory(token_dirs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)   # import wandb → ImportError
    out = tmp_path / "run"
    with pytest.raises(MissingExtraError, match=r"pip install 'jaforge\[wandb\]'"):
        pretrain(token_dirs, out, report_to=["wandb"])
    assert not out.exists()


def test_the_removed_tensorboard_flag_names_report_to(token_dirs, tmp_path, capsys):
    config = write_yaml(tmp_path / "c.yaml", tiny_run_config(token_dirs, tmp_path / "run"))
    assert main(["pretrain", "--config", str(config), "--trainer.tensorboard", "true"]) == 2
    assert "'trainer.tensorboard': removed; use 'trainer.report_to: [tensorboard]'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
