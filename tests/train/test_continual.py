"""Continual pretraining: start from a jaforge run or a Hugging Face Llama dir; an expanded tokenizer's
new embedding rows start as the mean of their old-subword rows."""

import json

import pytest
import torch

from jaforge.config import build
from jaforge.model import ModelConfig, Transformer
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import initial_model
from jaforge.train.metrics import read_metrics
from jaforge.train.state_files import read_state
from jaforge.train.trainer import run

from .tiny_setup import VOCAB, tiny_run_config

torch.set_num_threads(1)

EXPANSION = {"base_vocab_size": VOCAB, "new_tokens": [
    {"id": VOCAB, "piece": "日本語", "old_ids": [300, 301, 302]},
    {"id": VOCAB + 1, "piece": "東京", "old_ids": [17]}]}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, token_dirs):
    out = tmp_path_factory.mktemp("base")
    cfg = tiny_run_config(token_dirs, out, max_steps=4, eval_every=0)
    cfg["model"]["tie_embeddings"] = False
    run(build(PretrainConfig, cfg))
    return out


def test_init_from_a_run_loads_its_final_checkpoint(base_run):
    model, cfg = initial_model(str(base_run), ModelConfig(), None)
    saved = read_state(base_run / "checkpoints" / "step-00000004", "trainer_state")
    assert saved["step"] == 4 and cfg.vocab_size == VOCAB and not cfg.tie_embeddings
    assert not torch.equal(model.lm_head.weight, Transformer(cfg).lm_head.weight)


def test_expansion_rows_are_means_of_old_subword_rows(base_run, tmp_path):
    (tmp_path / "expansion.json").write_text(json.dumps(EXPANSION))
    base, _ = initial_model(str(base_run), ModelConfig(), None)
    grown, cfg = initial_model(str(base_run), ModelConfig(), str(tmp_path / "expansion.json"))
    assert cfg.vocab_size == VOCAB + 2
    for table in ("tok_embeddings", "lm_head"):
        old, new = getattr(base, table).weight, getattr(grown, table).weight
        assert torch.equal(new[:VOCAB], old)
        assert torch.allclose(new[VOCAB], old[[300, 301, 302]].mean(0))
        assert torch.equal(new[VOCAB + 1], old[17])
    assert torch.equal(grown.blocks[0].attn.q_proj.weight, base.blocks[0].attn.q_proj.weight)


def test_init_from_a_hugging_face_llama_dir(tmp_path):
    from jaforge.model.hf import export_hf

    cfg = ModelConfig(vocab_size=VOCAB, n_layer=1, d_model=32, n_head=4, n_kv_head=2, max_seq_len=64)
    model = Transformer(cfg)
    export_hf(model, cfg, tmp_path / "hf")
    loaded, loaded_cfg = initial_model(str(tmp_path / "hf"), ModelConfig(), None)
    ids = torch.randint(0, VOCAB, (2, 9))
    assert torch.allclose(loaded(ids).logits, model(ids).logits, atol=1e-5)


def test_continual_pretraining_runs_with_an_expanded_vocabulary(base_run, tmp_path, token_dirs):
    (tmp_path / "expansion.json").write_text(json.dumps(EXPANSION))
    cfg = tiny_run_config(token_dirs, tmp_path / "cpt", max_steps=3, eval_every=3,
                          init_from=str(base_run), expansion=str(tmp_path / "expansion.json"))
    result = run(build(PretrainConfig, cfg))
    rows = read_metrics(tmp_path / "cpt" / "metrics.jsonl")
    assert len(rows) == 3 and result.metrics["val_loss"] is not None
    first_base_loss = read_metrics(base_run / "metrics.jsonl")[0]["loss"]
    assert rows[0]["loss"] < first_base_loss  # it starts from the trained model, not from scratch


def test_expansion_without_a_base_model_fails():
    with pytest.raises(ValueError, match="init_from"):
        initial_model(None, ModelConfig(vocab_size=8, n_layer=1, d_model=8, n_head=2), "x.json")
