"""Session fixtures for the trainer tests: corpus shards of the embedded data, a tiny tokenizer,
and their token shards, built once in temp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaforge import data

from .tiny_setup import train_tokenizer, write_shards


@pytest.fixture(scope="session")
def corpus_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return {"ja": write_shards(root / "ja", data.japanese_clean(), per_file=120).parent,
            "en": write_shards(root / "en", data.english_clean(), per_file=100).parent}


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    texts = [d["text"] for d in data.japanese_clean()[::3] + data.english_clean()[::3]]
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"), texts)


@pytest.fixture(scope="session")
def token_dirs(tmp_path_factory, corpus_dirs, tokenizer_dir) -> dict[str, Path]:
    from jaforge.tokenizer.tokenize_data import TokenizeDataConfig, run

    out = {}
    for name, corpus in corpus_dirs.items():
        target = tmp_path_factory.mktemp(f"tokens-{name}")
        run(TokenizeDataConfig(input=[str(corpus / "data")], tokenizer=str(tokenizer_dir),
                               output_dir=str(target), val_fraction=0.1, seed=0))
        out[name] = target
    return out


