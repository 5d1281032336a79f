"""The sft loop: a LoRA run writes its before/after tables and a PEFT adapter; a run killed with
SIGKILL at a random step and started again logs the same losses bit for bit; full tuning starts
from a Hugging Face dir; DPO moves the policy towards the chosen replies."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")

from jaforge.config import build, load_config  # noqa: E402
from jaforge.sft import SFTConfig, run  # noqa: E402
from jaforge.train.metrics import read_metrics  # noqa: E402

from .conftest import tiny_sft_config  # noqa: E402

torch.set_num_threads(1)
CURVE = ("step", "loss", "lr", "grad_norm", "targets", "val_ppl")


def curve(out):
    return [tuple(r.get(k) for k in CURVE) for r in read_metrics(out / "metrics.jsonl")]


def test_lora_run_writes_tables_adapter_and_merged_model(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    result = run(build(SFTConfig, tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out,
                                                  merge=True, **{"trainer.eval_every": 5})))
    assert result.metrics["steps"] == 10 and [r[0] for r in curve(out)] == list(range(1, 11))
    assert result.metrics["ppl_after"] < result.metrics["ppl_before"]
    assert result.outputs["adapter"] == str(out / "adapter") and result.metrics["loss"] > 0
    table = result.markdown()
    assert "| ppl/dolly_ja |" in table and "## Generations" in table
    report = json.loads((out / "data_report.json").read_text("utf-8"))
    assert set(report["sources"]) == {"dolly_ja", "chat"} and report["total"]["tokens"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert (out / "merged" / "model.safetensors").exists() and (out / "merged-hf" / "config.json").exists()
    config = json.loads((out / "adapter" / "adapter_config.json").read_text("utf-8"))
    assert "model.layers.0.self_attn.q_proj" in config["target_modules"]


def command(config):
    return [sys.executable, "-m", "jaforge.cli", "sft", "--config", str(config)]


def last_step(out):
    path = out / "metrics.jsonl"
    rows = read_metrics(path) if path.exists() else []
    return rows[-1]["step"] if rows else 0


def test_killed_and_resumed_run_logs_the_same_losses(model_dirs, tokenizer_dir, tmp_path):
    import yaml

    straight = tmp_path / "straight"
    run(build(SFTConfig, tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, straight)))
    expected = curve(straight)
    resumed = tmp_path / "resumed"
    config = tmp_path / "resumed.yaml"
    config.write_text(yaml.safe_dump(tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, resumed)), "utf-8")
    kill_step = random.randint(3, 8)
    proc = subprocess.Popen(command(config), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while last_step(resumed) < kill_step and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never reached the step to kill at"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reached = last_step(resumed)
    assert reached < 10, f"the run finished before the kill (asked step {kill_step})"
    subprocess.run(command(config), check=True, capture_output=True)
    assert curve(resumed) == expected, f"curves differ after a kill at step {reached}"
    assert json.loads((resumed / "results.json").read_text("utf-8"))["before"] == \
        json.loads((straight / "results.json").read_text("utf-8"))["before"]


def test_full_tuning_from_a_hugging_face_dir(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "full"
    cfg = tiny_sft_config(model_dirs["hf"], tokenizer_dir, out, method="full",
                          **{"trainer.max_steps": 4, "data.packing": False, "data.loss_on": "all"})
    result = run(build(SFTConfig, cfg))
    assert result.metrics["ppl_after"] < result.metrics["ppl_before"]
    assert (out / "model" / "model_config.json").exists() and (out / "hf" / "config.json").exists()


def test_dpo_prefers_the_chosen_replies(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "dpo"
    cfg = tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, objective="dpo",
                          **{"data.sources": [{"name": "pref", "path": "data/sft/preference.jsonl",
                                               "format": "preference"}],
                             "data.eval_fraction": 0.0, "trainer.max_steps": 6,
                             "optim.lr": 3e-2, "dpo.beta": 0.5})
    run(build(SFTConfig, cfg))
    rows = read_metrics(out / "metrics.jsonl")
    assert rows[0]["loss"] == pytest.approx(0.6931, abs=1e-3)   # policy = reference at the start
    assert rows[-1]["loss"] < rows[0]["loss"] and rows[-1]["reward_margin"] > 0


def test_sft_recipe_loads():
    from pathlib import Path

    for recipe in sorted((Path(__file__).resolve().parents[2] / "recipes").glob("sft-*.yaml")):
        cfg = load_config(SFTConfig, recipe)
        assert cfg.data.sources and cfg.output_dir


def test_jglue_task_scores_before_and_after(model_dirs, tokenizer_dir, tmp_path):
    pytest.importorskip("jaforge.eval.runner", reason="the eval stage is not installed")
    out = tmp_path / "tasks"
    result = run(build(SFTConfig, tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, **{
        "trainer.max_steps": 2, "eval.tasks": ["jnli"], "eval.shots": 0, "eval.task_limit": 4})))
    keys = [k.removesuffix("_after") for k in result.metrics if k.startswith("jnli/") and k.endswith("_after")]
    assert keys and all(f"{k}_before" in result.metrics for k in keys)
    assert "| jnli/" in result.markdown()


def test_sft_rows_count_tokens_and_reach_tensorboard(model_dirs, tokenizer_dir, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard (the 'tensorboard' extra) is not installed")
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    run(build(SFTConfig, tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, **{
        "trainer.max_steps": 4, "trainer.report_to": ["tensorboard"], "eval.generations": 0})))
    rows = read_metrics(out / "metrics.jsonl")
    tokens = [r["tokens"] for r in rows]
    assert len(tokens) == 4 and all(b > a > 0 for a, b in zip(tokens, tokens[1:]))
    events = EventAccumulator(str(out / "tensorboard")).Reload()
    for key in ("loss", "tokens"):
        assert [e.value for e in events.Scalars(key)] == [float(np.float32(r[key])) for r in rows]
