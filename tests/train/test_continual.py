"""Continual pretraining: start from a jaforge run or a Hugging Face Llama dir; an expanded tokenizer's
new embedding rows start as the mean of their old-subword rows; the base fixes the architecture,
config.yaml records the model trained, and the log starts with the base's validation losses."""

import json

import pytest
import torch
import yaml

from jaforge.config import build
from jaforge.errors import ConfigError
from jaforge.model.checkpoint import load_model
from jaforge.model.export import ExportConfig
from jaforge.model.export import run as export
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import initial_model, load_base, trained_model_config
from jaforge.train.metrics import read_metrics
from jaforge.train.trainer import run

from .tiny_setup import VOCAB, tiny_run_config

torch.set_num_threads(1)

EXPANSION = {"base_vocab_size": VOCAB, "new_tokens": [
    {"id": VOCAB, "piece": "日本語", "old_ids": [300, 301, 302]},
    {"id": VOCAB + 1, "piece": "東京", "old_ids": [17]}]}


def continual_config(token_dirs, out, model=None, **trainer) -> PretrainConfig:
    data = tiny_run_config(token_dirs, out, **{"max_steps": 3, "eval_every": 3, **trainer})
    data["model"] = model or {}
    return build(PretrainConfig, data)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, token_dirs):
    out = tmp_path_factory.mktemp("base")
    cfg = tiny_run_config(token_dirs, out, max_steps=4, eval_every=4)
    cfg["model"].update(tie_embeddings=False, max_seq_len=48)
    run(build(PretrainConfig, cfg))
    return out


@pytest.fixture
def expansion(tmp_path):
    (tmp_path / "expansion.json").write_text(json.dumps(EXPANSION))
    return str(tmp_path / "expansion.json")


def test_init_from_a_run_trains_the_base_architecture(base_run, token_dirs, tmp_path):
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run))
    model_cfg = trained_model_config(cfg)
    assert (model_cfg.vocab_size, model_cfg.d_model, model_cfg.max_seq_len) == (VOCAB, 32, 48)
    assert not model_cfg.tie_embeddings and model_cfg.dropout == 0.0  # dropout is this run's
    model = initial_model(cfg.trainer, model_cfg)
    base, _ = load_base(str(base_run))
    assert torch.equal(model.lm_head.weight, base.lm_head.weight)


def test_expansion_rows_are_scaled_means_of_old_subword_rows(base_run, token_dirs, tmp_path, expansion):
    base, _ = load_base(str(base_run))
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run), expansion=expansion,
                           new_rows_init_scale=0.5)
    model_cfg = trained_model_config(cfg)
    grown = initial_model(cfg.trainer, model_cfg)
    assert model_cfg.vocab_size == VOCAB + 2
    for table in ("tok_embeddings", "lm_head"):
        old, new = getattr(base, table).weight, getattr(grown, table).weight
        assert torch.equal(new[:VOCAB], old)
        assert torch.allclose(new[VOCAB], 0.5 * old[[300, 301, 302]].mean(0))
        assert torch.equal(new[VOCAB + 1], 0.5 * old[17])
    assert torch.equal(grown.blocks[0].attn.q_proj.weight, base.blocks[0].attn.q_proj.weight)


def test_expanded_model_gives_the_base_logits_on_old_tokens(base_run, token_dirs, tmp_path, expansion):
    """Right after expansion, before any training: the same logits over every old id."""
    base, _ = load_base(str(base_run))
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run), expansion=expansion)
    grown = initial_model(cfg.trainer, trained_model_config(cfg)).eval()
    ids = torch.randint(0, VOCAB, (3, 40))  # text made only of old tokens
    with torch.no_grad():
        old, new = base.eval()(ids).logits, grown(ids).logits
    assert new.shape[-1] == VOCAB + 2
    assert torch.allclose(new[..., :VOCAB], old, rtol=0, atol=1e-6)


def test_a_base_of_another_vocabulary_is_refused_naming_both_sizes(base_run, token_dirs, tmp_path):
    path = tmp_path / "expansion.json"
    path.write_text(json.dumps({**EXPANSION, "base_vocab_size": VOCAB - 10,
                                "new_tokens": [{"id": VOCAB - 10, "piece": "x", "old_ids": [5]}]}))
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run), expansion=str(path))
    with pytest.raises(ConfigError, match=f"{VOCAB - 10} tokens.*{VOCAB} embedding rows"):
        trained_model_config(cfg)


def test_model_keys_that_init_from_fixes_are_an_error(base_run, token_dirs, tmp_path):
    cfg = continual_config(token_dirs, tmp_path / "cpt", {"d_model": 64, "n_layer": 2, "dropout": 0.1},
                           init_from=str(base_run))
    with pytest.raises(ConfigError, match=r"model\.d_model 64 \(the base has 32\)") as err:
        trained_model_config(cfg)
    assert "n_layer" not in str(err.value) and "head_dim" not in str(err.value)  # equal / derived


def test_context_extension_interpolates_rope_positions(base_run, token_dirs, tmp_path):
    out = tmp_path / "long"
    cfg = continual_config(token_dirs, out, {"max_seq_len": 96, "dropout": 0.1, "n_layer": 2},
                           init_from=str(base_run), max_steps=1, eval_every=0, eval_at_start=False)
    result = run(cfg)
    saved = yaml.safe_load((out / "config.yaml").read_text())["model"]
    assert saved["max_seq_len"] == 96 and saved["rope_scale"] == 2.0 and saved["dropout"] == 0.1
    assert saved["d_model"] == 32 and saved["vocab_size"] == VOCAB  # the base's, not the defaults
    _, trained = load_model(result.outputs["model"])
    assert trained.rope_scale == 2.0
    plain = continual_config(token_dirs, out, {"max_seq_len": 96}, init_from=str(base_run),
                             context_extension="extend")
    assert trained_model_config(plain).rope_scale == 1.0


def test_continual_run_logs_the_base_losses_at_step_0(base_run, token_dirs, tmp_path, expansion):
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run), expansion=expansion)
    result = run(cfg)
    rows = read_metrics(tmp_path / "cpt" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and "loss" not in rows[0]
    base_rows = read_metrics(base_run / "metrics.jsonl")
    assert rows[1]["loss"] < base_rows[0]["loss"]  # it starts from the trained model
    cpt = json.loads((token_dirs["ja"] / "meta.json").read_text())["splits"]["val"]
    per_char = rows[0]["val_loss/ja"] * cpt["tokens"] / cpt["chars"]
    assert rows[0]["val_loss_per_char/ja"] == pytest.approx(per_char)
    assert result.metrics["start/val_loss/ja"] == rows[0]["val_loss/ja"]
    assert result.metrics["val_loss"] == rows[-1]["val_loss"] and result.metrics["bos"]["ja"] is True
    assert result.metrics["new_row_norm"] > 0


def test_old_rows_stay_frozen_and_new_rows_train(base_run, token_dirs, tmp_path, expansion):
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(base_run), expansion=expansion,
                           freeze_old_rows_steps=3, new_rows_lr=1e-2, eval_every=0, eval_at_start=False)
    result = run(cfg)
    base, _ = load_base(str(base_run))
    trained, _ = load_model(result.outputs["model"])
    for table in ("tok_embeddings", "lm_head"):
        old, new = getattr(base, table).weight, getattr(trained, table).weight
        assert torch.equal(new[:VOCAB], old)
    assert not torch.equal(trained.blocks[0].attn.q_proj.weight, base.blocks[0].attn.q_proj.weight)
    grown = initial_model(cfg.trainer, trained_model_config(cfg))
    assert not torch.equal(trained.lm_head.weight[VOCAB:], grown.lm_head.weight[VOCAB:])


def test_hf_base_loads_and_continues_through_init_from(base_run, token_dirs, tmp_path):
    """The base exported to Hugging Face continues where it stopped: the same validation loss at
    step 0 as the base's last evaluation, then training."""
    hf = tmp_path / "hf"
    export(build(ExportConfig, {"checkpoint": str(base_run), "output_dir": str(hf),
                                "card": {"license": "apache-2.0"}}))
    assert json.loads((hf / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    cfg = continual_config(token_dirs, tmp_path / "cpt", init_from=str(hf))
    run(cfg)
    rows = read_metrics(tmp_path / "cpt" / "metrics.jsonl")
    base_last = read_metrics(base_run / "metrics.jsonl")[-1]
    assert rows[0]["val_loss/en"] == pytest.approx(base_last["val_loss/en"], abs=1e-5)
    assert rows[-1]["step"] == 3 and rows[-1]["loss"] == rows[-1]["loss"]


def test_expansion_options_without_expansion_fail(base_run, token_dirs, tmp_path):
    with pytest.raises(ConfigError, match="init_from"):
        trained_model_config(continual_config(token_dirs, tmp_path / "x", expansion="x.json"))
    with pytest.raises(ConfigError, match="need trainer.expansion"):
        trained_model_config(continual_config(token_dirs, tmp_path / "x", init_from=str(base_run),
                                              freeze_old_rows_steps=2))
