"""Fixtures of the merge tests: tiny random Llama directories (transformers, safetensors) with a
byte-level BPE tokenizer trained on the embedded corpus, fine-tuned-looking variants of one base,
and an expanded tokenizer (new merges and tokens after the old ids, as vocabulary expansion does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
transformers = pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers (the 'tokenizer' extra) is not installed")

VOCAB = 300
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def corpus_texts(limit: int = 120) -> list[str]:
    from jaforge import data

    return [d["text"] for d in data.japanese_clean()[:limit]]


def train_tokenizer(directory: Path, vocab_size: int = VOCAB, texts: list[str] | None = None) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts or corpus_texts(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
         "pad_token": "<pad>", "unk_token": "<unk>"}), encoding="utf-8")
    return directory


def expand_tokenizer(source: Path, directory: Path, words: list[str]) -> list[str]:
    """Copy `source` with BPE merges that make each word one token (new tokens after the old ids,
    old ids unchanged, as vocabulary expansion does); returns the new token strings."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    spec = json.loads((source / "tokenizer.json").read_text("utf-8"))
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    added = []
    for word in words:
        pieces = tok.encode(word).tokens
        while len(pieces) > 1:
            new = pieces[0] + pieces[1]
            if new not in vocab:
                vocab[new] = len(vocab)
                merges.append([pieces[0], pieces[1]] if isinstance(merges[0], list) else f"{pieces[0]} {pieces[1]}")
                added.append(new)
            pieces = [new] + pieces[2:]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text((source / "tokenizer_config.json").read_text("utf-8"),
                                                     encoding="utf-8")
    return added


def tiny_llama(directory: Path, tokenizer_dir: Path | None = None, seed: int = 0, vocab_size: int = VOCAB,
               layers: int = 2, tied: bool = False, dtype=None) -> Path:
    config = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(str(directory))
    if tokenizer_dir is not None:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (directory / name).write_bytes((tokenizer_dir / name).read_bytes())
    # a model card stating the licence, as published models have: merges take it from here
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    return directory


def variant(base: Path, directory: Path, seed: int, scale: float = 0.02) -> Path:
    """`base` plus Gaussian noise on every weight: a stand-in for a model fine-tuned from it."""
    from safetensors.torch import load_file, save_file

    directory.mkdir(parents=True, exist_ok=True)
    for path in base.iterdir():
        if path.suffix != ".safetensors":
            (directory / path.name).write_bytes(path.read_bytes())
    generator = torch.Generator().manual_seed(seed)
    for path in base.glob("*.safetensors"):
        state = load_file(str(path))
        noisy = {k: v + scale * torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in state.items()}
        save_file(noisy, str(directory / path.name), metadata={"format": "pt"})
    return directory


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def family(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    """A base and four variants of it (same vocabulary)."""
    root = tmp_path_factory.mktemp("family")
    base = tiny_llama(root / "base", tokenizer_dir, seed=0)
    models = {"base": base}
    for i in range(1, 5):
        models[f"ft{i}"] = variant(base, root / f"ft{i}", seed=i)
    return models


def load_logits(directory: Path, ids) -> "torch.Tensor":
    model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32).eval()
    with torch.no_grad():
        return model(ids).logits


@pytest.fixture(scope="session")
def lineage(tmp_path_factory) -> dict[str, Path]:
    """A briefly pretrained base built by jaforge's stages (see lineage.py)."""
    pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")
    pytest.importorskip("sentencepiece", reason="sentencepiece (the 'tokenizer' extra) is not installed")
    from .lineage import build_base

    return build_base(tmp_path_factory.mktemp("lineage"))
