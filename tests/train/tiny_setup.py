"""Builders for the trainer tests: a tiny byte-level BPE tokenizer, corpus shards in the corpus
stage's layout, and a tiny pretrain config (plain data, also written as YAML for subprocess runs)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from jaforge.tokenizer.hf import add_special_tokens, write_tokenizer_dir

VOCAB = 384


def write_shards(directory: Path, docs: list[dict], per_file: int) -> Path:
    """Corpus-stage layout: <directory>/data/part-*.jsonl.gz with id, text, metadata."""
    out = directory / "data"
    out.mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(0, len(docs), per_file)):
        with gzip.open(out / f"part-{n:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
            for d in docs[start:start + per_file]:
                f.write(json.dumps({"id": d["id"], "text": d["text"], "metadata": {}},
                                   ensure_ascii=False) + "\n")
    return out


def train_tokenizer(directory: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    add_special_tokens(tok, [])  # jaforge's convention: <s> starts every text
    return write_tokenizer_dir(tok, directory)


def tiny_run_config(token_dirs: dict[str, Path], out: Path, **trainer) -> dict:
    """A tiny pretrain config as plain data (also written as YAML for subprocess runs)."""
    return {
        "data": {"datasets": [{"name": "ja", "path": str(token_dirs["ja"])},
                              {"name": "en", "path": str(token_dirs["en"])}],
                 "phases": [{"steps": 6, "weights": {"en": 1.0}}, {"steps": 0, "weights": {"ja": 0.8, "en": 0.2}}],
                 "seq_len": 32, "seed": 3},
        "model": {"vocab_size": VOCAB, "n_layer": 2, "d_model": 32, "n_head": 4, "n_kv_head": 2,
                  "max_seq_len": 64, "dropout": 0.1},
        "optim": {"name": "adamw", "lr": 3e-3},
        "schedule": {"name": "cosine", "warmup_steps": 3},
        "trainer": {"max_steps": 24, "batch_size": 8, "micro_batch_size": 4, "eval_every": 5,
                    "eval_batches": 2, "checkpoint_every": 3, "keep_last": 2, "progress": False,
                    "threads": 1, **trainer},
        "output_dir": str(out),
    }


def write_yaml(path: Path, config: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
