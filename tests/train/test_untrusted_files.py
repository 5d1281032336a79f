"""Nothing a resume or a model load reads can run code: a pickle whose unpickling would create a file
is planted in every file (with a manifest rewritten to match, as an attacker who controls the
directory would), and the marker file never appears; each load fails with an error naming the file.
Damaged weights (truncated) are clear errors too, for resume and init_from."""

import pickle
import shutil

import pytest
import torch

from jaforge.config import build
from jaforge.errors import InputError, JaforgeError
from jaforge.train.checkpoint import MANIFEST, write_manifest
from jaforge.train.config import PretrainConfig
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config

torch.set_num_threads(1)


class Payload:
    """Unpickling this calls open(marker, "w"): the file appears if anything unpickles it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker) -> None:
    path.write_bytes(pickle.dumps(Payload(marker)))


def cfg(token_dirs, out, **trainer):
    return build(PretrainConfig, tiny_run_config(token_dirs, out, **{
        "max_steps": 4, "checkpoint_every": 2, "keep_last": 0, "eval_every": 0, **trainer}))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, token_dirs):
    out = tmp_path_factory.mktemp("untrusted") / "run"
    run(cfg(token_dirs, out))
    return out


CHECKPOINT_FILES = ["trainer_state.json", "trainer_state.safetensors", "rng-rank0.json",
                    "rng-rank0.safetensors", "model/model.safetensors"]


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_a_planted_pickle_in_a_checkpoint_never_runs(finished_run, token_dirs, tmp_path, name):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    marker = tmp_path / "pwned"
    for step_dir in sorted((out / "checkpoints").iterdir()):
        plant(step_dir / name, marker)
        (step_dir / MANIFEST).unlink()
        write_manifest(step_dir, int(step_dir.name[5:]))  # the checksums vouch for the payload
    with pytest.raises(InputError, match=name.split("/")[-1]):
        run(cfg(token_dirs, out, max_steps=4))
    assert not marker.exists()


def test_old_pickle_checkpoints_are_refused_without_loading(finished_run, token_dirs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    marker = tmp_path / "pwned"
    for step_dir in sorted((out / "checkpoints").iterdir()):
        for path in list(step_dir.iterdir()):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name in ("trainer_state.pt", "rng-rank0.pt"):  # the layout older versions wrote
            plant(step_dir / name, marker)
    with pytest.raises(InputError, match="pickle format"):
        run(cfg(token_dirs, out))
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.safetensors", "model_config.json"])
def test_init_from_a_planted_model_never_runs_it(finished_run, token_dirs, tmp_path, name):
    base = tmp_path / "base"
    shutil.copytree(finished_run / "model", base)
    marker = tmp_path / "pwned"
    plant(base / name, marker)
    with pytest.raises(JaforgeError, match=name):
        run(cfg(token_dirs, tmp_path / "cpt", init_from=str(base)))
    assert not marker.exists()


def test_truncated_weights_name_the_file(finished_run, token_dirs, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(finished_run / "model", base)
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(InputError, match=f"{weights}: cannot be read as a jaforge model's weights"):
        run(cfg(token_dirs, tmp_path / "cpt", init_from=str(base)))
    out = tmp_path / "run"  # the same damage in the only checkpoint a resume could use
    shutil.copytree(finished_run, out)
    shutil.rmtree(out / "checkpoints" / "step-00000002")
    newest = out / "checkpoints" / "step-00000004"
    cut = newest / "model" / "model.safetensors"
    cut.write_bytes(cut.read_bytes()[:1000])
    (newest / MANIFEST).unlink()
    write_manifest(newest, 4)
    with pytest.raises(InputError, match=str(cut)):
        run(cfg(token_dirs, out))
