"""Fixture: a tiny random Llama (HF directory) and the same weights as a jaforge model, built once.

Imported by the tests that use it (tests/conftest.py is the shared `conftest` module)."""

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
    pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")
    import torch

    from jaforge.eval.parity import build_tiny_llama, jaforge_copy
    from jaforge.eval.tasks import TASKS, load_docs
    from jaforge.eval.templates import get_template

    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("tiny")
    tpl = get_template("leaderboard", "jnli")
    texts = [tpl.description + tpl.text(d) + "\n" + tpl.target(d) for d in load_docs(TASKS.get("jnli"), "train")]
    hf_dir = build_tiny_llama(work / "hf", texts, vocab_size=300, max_length=256, d_model=32)
    return hf_dir, jaforge_copy(hf_dir, work / "jaforge")
