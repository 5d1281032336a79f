"""The loop's switches: gradient accumulation, bf16 autocast, other optimisers, UL2, metrics files."""

import csv

import pytest
import torch

from jaforge.config import build, load_config
from jaforge.train.config import PretrainConfig
from jaforge.train.metrics import read_metrics
from jaforge.train.trainer import run

from .tiny_setup import VOCAB, tiny_run_config, write_yaml

torch.set_num_threads(1)


def train(token_dirs, out, model=None, optim=None, **trainer):
    """A short run on one fixed mixture (no phase switch, so losses compare across steps)."""
    cfg = tiny_run_config(token_dirs, out, **{"max_steps": 6, "eval_every": 3, **trainer})
    cfg["data"]["phases"] = []
    cfg["model"].update(dropout=0.0, **(model or {}))
    cfg["optim"].update(optim or {})
    result = run(build(PretrainConfig, cfg))
    return result, read_metrics(out / "metrics.jsonl")


def test_accumulation_matches_one_big_micro_batch(tmp_path, token_dirs):
    _, small = train(token_dirs, tmp_path / "a", micro_batch_size=2)
    _, big = train(token_dirs, tmp_path / "b", micro_batch_size=8)
    for a, b in zip(small, big):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)


def test_metrics_files_and_final_model(tmp_path, token_dirs):
    result, rows = train(token_dirs, tmp_path / "r", peak_flops=1e11)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert result.metrics["val_loss"] == rows[-1]["val_loss"] and "val_loss" in rows[2]
    assert all(0 < r["mfu"] < 1 and r["tokens_per_s"] > 0 for r in rows)
    with open(tmp_path / "r" / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    assert [float(r["loss"]) for r in table] == [r["loss"] for r in rows]
    assert (tmp_path / "r" / "model" / "model.safetensors").exists()
    assert load_config(PretrainConfig, tmp_path / "r" / "config.yaml").trainer.max_steps == 6


@pytest.mark.parametrize("name", ["lion", "muon", "adafactor"])
def test_other_optimizers_train(tmp_path, token_dirs, name):
    lr = {"lion": 1e-3, "muon": 3e-3, "adafactor": 3e-2}[name]
    _, rows = train(token_dirs, tmp_path / name, optim={"name": name, "lr": lr}, max_steps=8)
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_bf16_autocast_trains(tmp_path, token_dirs):
    _, rows = train(token_dirs, tmp_path / "bf16", precision="bf16")
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_ul2_objective_trains_with_sentinel_rows(tmp_path, token_dirs):
    with pytest.raises(ValueError, match="sentinel"):
        train(token_dirs, tmp_path / "no-room", objective="ul2")
    _, rows = train(token_dirs, tmp_path / "ul2", model={"vocab_size": VOCAB + 64}, objective="ul2")
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_bad_batch_split_fails_clearly(tmp_path, token_dirs):
    with pytest.raises(ValueError, match="micro_batch_size"):
        train(token_dirs, tmp_path / "x", micro_batch_size=3)


def test_yaml_config_round_trip(tmp_path, token_dirs):
    path = write_yaml(tmp_path / "c.yaml", tiny_run_config(token_dirs, tmp_path / "o"))
    cfg = load_config(PretrainConfig, path, [("trainer.max_steps", "2")])
    assert cfg.trainer.max_steps == 2 and cfg.model.vocab_size == VOCAB


@pytest.mark.parametrize("objective,extra", [("causal", 0), ("ul2", 64)])
def test_vocab_size_auto_reads_the_token_data(tmp_path, token_dirs, objective, extra):
    import json

    import yaml

    from jaforge.model.checkpoint import load_config as load_model_config

    config = tiny_run_config(token_dirs, tmp_path / "run", max_steps=2, eval_every=0, objective=objective)
    config["model"]["vocab_size"] = "auto"
    run(build(PretrainConfig, config))
    vocab = json.loads((token_dirs["ja"] / "meta.json").read_text())["vocab_size"]
    assert load_model_config(tmp_path / "run" / "model").vocab_size == vocab + extra
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["model"]["vocab_size"] == vocab + extra  # the model actually trained
