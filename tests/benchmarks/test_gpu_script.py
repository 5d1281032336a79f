"""benchmarks/gpu/run.sh, the one GPU measurement, runs end to end on the CPU with tiny shapes
(--tiny): the same scripts, checks and result files a GPU session gets (about a minute here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_gpu_script_runs_end_to_end_with_tiny_shapes(tmp_path):
    for module in ("transformers", "trl", "peft", "torch"):
        pytest.importorskip(module, reason=f"{module} (a peer of the GPU benchmarks) is not installed")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out), RESULTS_DIR=str(tmp_path / "results"))
    done = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--tiny"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pretrain rc=0" in done.stdout and "sft rc=0" in done.stdout, done.stdout[-3000:]
    pretrain = json.loads((out / "pretrain-gpu.json").read_text())
    assert pretrain["same_answers"]["ok"]
    tiny = pretrain["sizes"]["tiny"]
    assert set(tiny["runs"]) == {"bare", "loop", "hf"}
    assert tiny["derived"]["loop_vs_bare"] > 0 and tiny["derived"]["loop_vs_hf"] > 0
    assert tiny["derived"]["mfu"]["loop"]["measured"] > 0 and "goals" in pretrain
    sft = json.loads((out / "sft-gpu.json").read_text())
    assert sft["same_answers"] and sft["ratio_median"] > 0 and sft["inputs"]["precision"] == "bf16"
    assert {p.name for p in out.iterdir()} >= {"pretrain-gpu.log", "sft-gpu.log", "gpu-env.txt"}
    assert not (REPO / "benchmarks" / "results" / "pretrain-gpu.json").exists() or \
        json.loads((REPO / "benchmarks" / "results" / "pretrain-gpu.json").read_text())["machine"]["device"] != "cpu"


def test_the_gpu_scripts_eval_part_runs_end_to_end_with_tiny_shapes(tmp_path):
    for module in ("transformers", "lm_eval", "torch"):
        pytest.importorskip(module, reason=f"{module} (a peer of the eval benchmark) is not installed")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out), RESULTS_DIR=str(tmp_path / "results"))
    done = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--tiny", "eval"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "eval rc=0" in done.stdout and "pretrain rc" not in done.stdout, done.stdout[-3000:]
    summary = json.loads((out / "eval-cuda.json").read_text())
    assert summary["same_answers"] and summary["inputs"]["tasks"] == ["jnli", "jsquad"]
    assert summary["windows"]["fitting"]["examples_per_s"]["jaforge"]["jnli"] > 0
    assert {p.name for p in out.iterdir()} == {"eval-cuda.json", "eval-cuda.log", "gpu-env.txt"}


def test_the_gpu_script_refuses_an_unknown_part():
    done = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--tiny", "evaluate"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage" in done.stderr
