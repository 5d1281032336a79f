"""The export stands alone: generation_config.json, the chat template, and a model card the Hub
parses (licence required, sections filled from the run's files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .tiny_models import tiny, torch

pytest.importorskip("safetensors", reason="checkpoints need the hf extra (pip install 'jaforge[hf]')")
transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

from jaforge.config import ConfigError  # noqa: E402
from jaforge.model import Transformer, save_model  # noqa: E402
from jaforge.model.card import ModelCardConfig  # noqa: E402
from jaforge.model.export import ExportConfig, run  # noqa: E402

TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}### 指示：\n{{ m['content'] }}\n\n"
            "### 応答：\n{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")


@pytest.fixture
def hf_tokenizer_dir(tmp_path) -> str:
    """A 64-piece character tokenizer (the tiny model's vocabulary) written as jaforge writes one."""
    tokenizers = pytest.importorskip("tokenizers")
    from jaforge.tokenizer.hf import add_special_tokens, write_tokenizer_dir

    chars = list("こんにちはせかいのだ指示応答：＃#\n ") + [chr(ord("a") + i) for i in range(26)]
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>"] + chars[:60])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    add_special_tokens(tok, [])
    return str(write_tokenizer_dir(tok, tmp_path / "tok"))


@pytest.fixture
def pretrain_run(tmp_path, request) -> Path:
    """A pretrain-like run directory: model/, metrics.jsonl; plus a tokenizer, corpus stats and eval results."""
    cfg = tiny()
    save_model(Transformer(cfg), cfg, tmp_path / "run" / "model")
    rows = [{"step": 10, "loss": 5.0, "tokens": 20480}, {"step": 20, "loss": 4.0, "tokens": 40960,
                                                          "val_loss": 4.2}]
    (tmp_path / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "stats.json").write_text(json.dumps(
        {"steps": {"read": {"docs_in": 100, "docs_out": 100}, "quality": {"docs_in": 100, "docs_out": 61}}}))
    (tmp_path / "results.json").write_text(json.dumps(
        {"shots": 3, "results": {"jnli": {"n": 10, "acc": 0.5}, "marc_ja": {"n": 10, "acc": 0.625}}}))
    return tmp_path


def export(root: Path, tokenizer_dir, **card) -> Path:
    cfg = ExportConfig(checkpoint=str(root / "run"), output_dir=str(root / "hf"),
                       tokenizer_dir=tokenizer_dir, chat_template=TEMPLATE if tokenizer_dir else None,
                       card=ModelCardConfig(corpus_stats=str(root / "stats.json"),
                                            eval_results=str(root / "results.json"), **card))
    return Path(run(cfg).output_dir)


def test_the_card_is_parsed_by_the_hub_and_holds_the_run(pretrain_run, hf_tokenizer_dir):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    out = export(pretrain_run, hf_tokenizer_dir, license="apache-2.0", base_model="org/base",
                 datasets=["team/corpus"], language=["ja", "en"])
    card = huggingface_hub.ModelCard.load(out / "README.md")
    assert card.data.license == "apache-2.0" and card.data.language == ["ja", "en"]
    assert card.data.base_model == "org/base" and card.data.datasets == ["team/corpus"]
    assert "jaforge" in card.data.tags
    text = card.text
    for section in ("## Model", "## Tokenizer", "## Training data", "## Training", "## Evaluation",
                    "## Intended use", "## Limitations"):
        assert section in text
    assert "| quality | 100 | 61 |" in text and "| marc_ja | 0.6250 |" in text
    assert "40,960" in text  # training tokens from metrics.jsonl
    assert f"{sum(p.numel() for p in Transformer(tiny()).parameters()):,}" in text


def test_generation_config_and_chat_template_load_in_transformers(pretrain_run, hf_tokenizer_dir):
    out = export(pretrain_run, hf_tokenizer_dir, license="mit")
    generation = transformers.GenerationConfig.from_pretrained(out)
    assert generation.do_sample is False and generation.eos_token_id is not None
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "こんにちは"}], tokenize=False)
    assert prompt == "### 指示：\nこんにちは\n\n### 応答：\n"
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert model.generation_config.max_new_tokens == 128


def test_an_export_without_a_licence_is_refused_before_writing(pretrain_run):
    with pytest.raises(ConfigError, match="'card.license': required"):
        export(pretrain_run, None)
    assert not (pretrain_run / "hf").exists()
