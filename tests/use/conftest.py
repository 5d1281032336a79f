"""A tiny model exported as a Hugging Face directory with a character tokenizer and a chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the train extra is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="the tokenizer extra is not installed")
pytest.importorskip("transformers", reason="the hf extra is not installed")

from jaforge.model import ModelConfig, Transformer, save_model  # noqa: E402
from jaforge.model.card import ModelCardConfig  # noqa: E402
from jaforge.model.export import ExportConfig, run as export  # noqa: E402
from jaforge.tokenizer.hf import add_special_tokens, write_tokenizer_dir  # noqa: E402

CHARS = "こんにちはせかいのだ指示応答：今日天気です。日本首都東京、！？ \n"
TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}### 指示：\n"
            "{{ m['content'] }}\n\n### 応答：\n{% elif m['role'] == 'assistant' %}{{ m['content'] }}"
            "{{ eos_token }}{% endif %}{% endfor %}")


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("use")
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *dict.fromkeys(CHARS)])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    tok.decoder = tokenizers.decoders.Fuse()
    add_special_tokens(tok, [])
    write_tokenizer_dir(tok, root / "tokenizer")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=64, n_layer=2, d_model=32, n_head=4, max_seq_len=128)
    model = Transformer(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)  # a random model with peaked logits: greedy choices are not ties
    save_model(model, cfg, root / "model")
    export(ExportConfig(checkpoint=str(root / "model"), tokenizer_dir=str(root / "tokenizer"),
                        chat_template=TEMPLATE, output_dir=str(root / "hf"),
                        card=ModelCardConfig(license="apache-2.0")))
    return {"model": root / "model", "tokenizer": root / "tokenizer", "hf": root / "hf", "root": root}
