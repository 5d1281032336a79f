"""Shared fixtures: corpus shards built from the embedded data, tiny tokenizers trained once."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from jaforge.tokenizer import SourceConfig, TokenizerConfig, TrainerConfig, run

REPO = Path(__file__).resolve().parents[2]
JA_CLEAN = REPO / "data" / "ja" / "clean"
EN_CLEAN = REPO / "data" / "en" / "clean.jsonl"


def read_texts(*paths: Path) -> list[str]:
    return [json.loads(line)["text"] for p in paths for line in open(p, encoding="utf-8")]


def write_shard(folder: Path, texts: list[str]) -> Path:
    """A corpus-stage shard: <folder>/data/part-00000.jsonl.gz with id, text, metadata."""
    path = folder / "data" / "part-00000.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "metadata": {}},
                               ensure_ascii=False) + "\n")
    return folder


def tiny_trainer(**changes) -> TrainerConfig:
    settings = dict(vocab_size=2000, character_coverage=0.98, num_threads=1)
    return TrainerConfig(**{**settings, **changes})


@pytest.fixture(scope="session")
def ja_texts() -> list[str]:
    return read_texts(*sorted(JA_CLEAN.glob("*.jsonl")))


@pytest.fixture(scope="session")
def en_texts() -> list[str]:
    return read_texts(EN_CLEAN)


@pytest.fixture(scope="session")
def ja_shard(tmp_path_factory, ja_texts) -> Path:
    """Every document of data/ja/clean as one corpus shard."""
    return write_shard(tmp_path_factory.mktemp("ja_corpus"), ja_texts)


@pytest.fixture(scope="session")
def small_shard(tmp_path_factory) -> Path:
    """Two genres only, for tests that train several tokenizers."""
    texts = read_texts(JA_CLEAN / "news.jsonl", JA_CLEAN / "qa.jsonl")
    return write_shard(tmp_path_factory.mktemp("small_corpus"), texts)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, ja_shard):
    """algorithm → tokenizer dir trained on the whole embedded Japanese corpus (+ English)."""
    dirs = {}

    def get(algorithm: str) -> Path:
        if algorithm not in dirs:
            out = tmp_path_factory.mktemp(f"tok_{algorithm}")
            sources = [SourceConfig(name="ja", paths=[str(ja_shard)]),
                       SourceConfig(name="en", language="en", paths=[str(EN_CLEAN)], weight=0.5)]
            run(TokenizerConfig(sources=sources, trainer=tiny_trainer(algorithm=algorithm),
                                output_dir=str(out)))
            dirs[algorithm] = out
        return dirs[algorithm]

    return get


@pytest.fixture(scope="session")
def trainer_settings():
    """A function making a tiny TrainerConfig (2,000 pieces, one thread) with changes."""
    return tiny_trainer


@pytest.fixture(scope="session")
def make_shard():
    """A function writing texts as a corpus shard under a folder."""
    return write_shard


@pytest.fixture(scope="session")
def en_clean() -> Path:
    return EN_CLEAN
