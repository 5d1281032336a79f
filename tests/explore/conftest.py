"""Session fixtures for the explore tests: a tiny byte-level BPE tokenizer of the embedded corpus and
Japanese / English token data (tokenize-data layout), plus a tiny study config as plain data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from jaforge import data

VOCAB = 320


def _corpus(directory: Path, docs: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    return directory


@pytest.fixture(scope="session")
def explore_tokens(tmp_path_factory) -> dict[str, Path]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge.tokenizer.tokenize_data import TokenizeDataConfig, run

    root = tmp_path_factory.mktemp("explore-data")
    docs = {"ja": data.japanese_clean()[:120], "en": data.english_clean()[:80]}
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([d["text"] for ds in docs.values() for d in ds], trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>", "<pad>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    (root / "tokenizer").mkdir()
    tok.save(str(root / "tokenizer" / "tokenizer.json"))
    out = {"tokenizer": root / "tokenizer"}
    for name, ds in docs.items():
        corpus = _corpus(root / "corpus" / name, ds)
        run(TokenizeDataConfig(input=[str(corpus)], tokenizer=str(root / "tokenizer"),
                               output_dir=str(root / "tokens" / name), val_fraction=0.15, seed=0))
        out[name] = root / "tokens" / name
    return out


def tiny_study(tokens: dict[str, Path], out: Path, params: dict, **extra) -> dict:
    """A study of 2-step runs on 16-token windows (seconds per run on one core)."""
    study = {
        "base": {"data": {"datasets": [{"name": "ja", "path": str(tokens["ja"])}], "seq_len": 16},
                 "model": {"vocab_size": VOCAB, "n_layer": 1, "d_model": 16, "n_head": 2,
                           "max_seq_len": 32},
                 "optim": {"lr": 3e-3}, "schedule": {"warmup_steps": 1},
                 "trainer": {"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "eval_every": 2,
                             "eval_batches": 1, "checkpoint_every": 2}},
        "space": {"params": params},
        "executor": {"kind": "inline"},
        "keep_model": False,
        "report": {"bootstrap": 20},
        "output_dir": str(out),
    }
    for key, value in extra.items():
        study[key] = value
    return study
