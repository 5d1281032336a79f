"""sft on the shared loop: the device, precision and memory switches (LoRA, full, DPO; packing),
exact resume with bf16 parameters, the run directory's resume check, and no code run from a
planted pickle in its checkpoints or base model."""

import pickle
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")

from jaforge.config import build  # noqa: E402
from jaforge.errors import InputError, JaforgeError, RunDirError  # noqa: E402
from jaforge.sft import SFTConfig, run  # noqa: E402
from jaforge.train.checkpoint import MANIFEST, write_manifest  # noqa: E402
from jaforge.train.metrics import read_metrics  # noqa: E402

from .conftest import tiny_sft_config  # noqa: E402

torch.set_num_threads(1)
BF16 = {"trainer.precision": "bf16", "trainer.param_dtype": "bf16"}


def tune(model_dirs, tokenizer_dir, out, **changes):
    return run(build(SFTConfig, tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, **changes)))


def test_lora_with_packing_trains_in_bf16_on_the_cpu_device(model_dirs, tokenizer_dir, tmp_path):
    result = tune(model_dirs, tokenizer_dir, tmp_path / "bf16", **BF16, **{
        "trainer.device": "cpu", "trainer.activation_checkpointing": True, "trainer.log_every": 5})
    assert result.metrics["ppl_after"] < result.metrics["ppl_before"]
    assert [r["step"] for r in read_metrics(tmp_path / "bf16" / "metrics.jsonl")] == [5, 10]
    adapter = tmp_path / "bf16" / "adapter" / "adapter_model.safetensors"
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(adapter)).values()} == {torch.float32}  # the fp32 masters


def test_full_dpo_in_bf16(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "dpo"
    tune(model_dirs, tokenizer_dir, out, method="full", objective="dpo", **BF16, **{
        "data.sources": [{"name": "pref", "path": "data/sft/preference.jsonl", "format": "preference"}],
        "data.eval_fraction": 0.0, "trainer.max_steps": 6, "optim.lr": 1e-3, "dpo.beta": 0.5})
    rows = read_metrics(out / "metrics.jsonl")
    assert rows[0]["loss"] == pytest.approx(0.6931, abs=2e-2)  # bf16: policy ≈ reference at the start
    assert rows[-1]["loss"] < rows[0]["loss"] and 0 <= rows[-1]["reward_accuracy"] <= 1


def test_bf16_lora_resumes_exactly(model_dirs, tokenizer_dir, tmp_path):
    straight = tmp_path / "straight"
    tune(model_dirs, tokenizer_dir, straight, **BF16, **{"trainer.keep_last": 0})
    resumed = tmp_path / "resumed"  # as if killed after step 5: step 4's checkpoint is the newest
    shutil.copytree(straight, resumed)
    for step in (6, 8, 10):
        shutil.rmtree(resumed / "checkpoints" / f"step-{step:08d}")
    lines = (resumed / "metrics.jsonl").read_text().splitlines()[:5]
    (resumed / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    tune(model_dirs, tokenizer_dir, resumed, **BF16, **{"trainer.keep_last": 0})
    keys = ("step", "loss", "lr", "grad_norm", "targets")
    assert [tuple(r[k] for k in keys) for r in read_metrics(resumed / "metrics.jsonl")] == \
        [tuple(r[k] for k in keys) for r in read_metrics(straight / "metrics.jsonl")]


def test_the_cuda_switches_fail_clearly_without_cuda(model_dirs, tokenizer_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the switch works here")
    import yaml

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, tmp_path / "o")))
    done = subprocess.run([sys.executable, "-m", "jaforge.cli", "sft", "--config", str(config),
                           "--trainer.device", "cuda", "--trainer.precision", "bf16"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "trainer.device: 'cuda' asks for CUDA" in done.stderr


def test_a_changed_lora_rank_is_refused_on_resume(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    tune(model_dirs, tokenizer_dir, out, **{"trainer.max_steps": 2})
    with pytest.raises(RunDirError, match="lora.r: 4 → 8"):
        tune(model_dirs, tokenizer_dir, out, **{"trainer.max_steps": 2, "lora.r": 8})
    tune(model_dirs, tokenizer_dir, out, **{"trainer.max_steps": 2, "eval.generations": 0})  # allowed


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["trainable.safetensors", "trainer_state.json", "rng-rank0.json"])
def test_a_planted_pickle_in_an_sft_checkpoint_never_runs(model_dirs, tokenizer_dir, tmp_path, name):
    out = tmp_path / "run"
    tune(model_dirs, tokenizer_dir, out, **{"trainer.max_steps": 2})
    marker = tmp_path / "pwned"
    step_dir = out / "checkpoints" / "step-00000002"
    (step_dir / name).write_bytes(pickle.dumps(Payload(marker)))
    (step_dir / MANIFEST).unlink()
    write_manifest(step_dir, 2)
    with pytest.raises(InputError, match=name):
        tune(model_dirs, tokenizer_dir, out, **{"trainer.max_steps": 2})
    assert not marker.exists()


def test_a_planted_or_cut_base_model_is_a_clear_error(model_dirs, tokenizer_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(model_dirs["jaforge"], base)
    marker = tmp_path / "pwned"
    (base / "model.safetensors").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(JaforgeError, match="model.safetensors"):
        run(build(SFTConfig, tiny_sft_config(base, tokenizer_dir, tmp_path / "o")))
    assert not marker.exists()
    weights = model_dirs["jaforge"] / "model.safetensors"
    (base / "model.safetensors").write_bytes(weights.read_bytes()[:500])
    with pytest.raises(InputError, match="model.safetensors: cannot be read as a jaforge model's weights"):
        run(build(SFTConfig, tiny_sft_config(base, tokenizer_dir, tmp_path / "o2")))
