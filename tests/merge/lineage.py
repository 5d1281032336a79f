"""A tiny model lineage built through jaforge's own stages (the `jaforge` command, in process): a
byte-level BPE tokenizer and token shards of the embedded corpus, a briefly pretrained base (and its
Hugging Face export), LoRA-tuned children of it (`jaforge sft`, merged), and a continually
pretrained child with an expanded tokenizer (`jaforge tokenizer-expand`, `pretrain --trainer.init_from`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import yaml

from jaforge.cli import main

from .conftest import corpus_texts, train_tokenizer

MODEL = {"n_layer": 2, "d_model": 64, "n_head": 4, "n_kv_head": 2, "max_seq_len": 256, "activation": "swiglu",
         "norm": "rmsnorm", "position": "rope", "tie_embeddings": False}


def jaforge(stage: str, config: dict, path: Path, *overrides: str) -> None:
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    code = main([stage, "--config", str(path), *overrides])
    assert code == 0, f"jaforge {stage} failed ({path})"


def corpus_shards(root: Path) -> Path:
    """The embedded clean corpus in the corpus stage's layout (data/part-*.jsonl.gz)."""
    from jaforge import data

    out = root / "corpus" / "data"
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        for doc in data.japanese_clean():
            f.write(json.dumps({"id": doc["id"], "text": doc["text"], "metadata": {}}, ensure_ascii=False) + "\n")
    return out


def instruction_texts() -> list[str]:
    from jaforge.sft.data import load_dolly_ja, sample_path

    return [e.instruction + e.input + e.output for e in load_dolly_ja(sample_path("dolly_ja"))]


def pretrain(root: Path, name: str, tokens: Path, vocab: int, steps: int, lr: float, **trainer) -> Path:
    out = root / name
    jaforge("pretrain", {
        "data": {"datasets": [{"name": "ja", "path": str(tokens)}], "seq_len": 128, "seed": 0},
        "model": {**MODEL, "vocab_size": vocab},
        "optim": {"name": "adamw", "lr": lr, "weight_decay": 0.0},
        "schedule": {"name": "constant" if trainer.get("init_from") else "cosine", "warmup_steps": 2},
        "trainer": {"max_steps": steps, "batch_size": 8, "micro_batch_size": 8, "eval_every": 0,
                    "checkpoint_every": steps, "progress": False, "threads": 1, **trainer},
        "output_dir": str(out)}, root / f"{name}.yaml")
    return out


def export(root: Path, run: Path, tokenizer: Path, name: str) -> Path:
    jaforge("export", {"checkpoint": str(run), "output_dir": str(root / name), "tokenizer_dir": str(tokenizer),
                       "card": {"license": "apache-2.0"}},
            root / f"{name}-export.yaml")
    return root / name


def tokenize(root: Path, shards: Path, tokenizer: Path, name: str) -> Path:
    jaforge("tokenize-data", {"input": [str(shards)], "tokenizer": str(tokenizer), "output_dir": str(root / name),
                              "val_fraction": 0.05}, root / f"{name}.yaml")
    return root / name


def build_base(root: Path, steps: int = 150) -> dict[str, Path]:
    """{"tokenizer", "corpus", "tokens", "base" (pretrain run), "base_hf"}."""
    tokenizer = train_tokenizer(root / "tokenizer", vocab_size=2000, texts=corpus_texts(400) + instruction_texts())
    shards = corpus_shards(root)
    tokens = tokenize(root, shards, tokenizer, "tokens")
    vocab = len(json.loads((tokenizer / "tokenizer.json").read_text("utf-8"))["model"]["vocab"])
    base = pretrain(root, "base", tokens, vocab, steps, 3e-3)
    return {"tokenizer": tokenizer, "corpus": shards, "tokens": tokens, "base": base,
            "base_hf": export(root, base, tokenizer, "base-hf")}


def sft_child(root: Path, base_hf: Path, name: str, sources: list[dict], steps: int, **changes) -> Path:
    """A LoRA-tuned child of `base_hf`, merged (returns its merged-hf directory)."""
    config = {"model": str(base_hf), "tokenizer": str(base_hf), "method": "lora",
              "data": {"sources": sources, "template": "alpaca_ja", "seq_len": 256, "packing": True,
                       "eval_fraction": 0.1, "eval_max": 8, "contamination_paths": []},
              "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj",
                                                                                "o_proj", "up_proj", "down_proj"]},
              "optim": {"lr": 5e-3, "weight_decay": 0.0}, "schedule": {"warmup_steps": 2},
              "trainer": {"max_steps": steps, "batch_size": 8, "micro_batch_size": 8, "checkpoint_every": steps,
                          "progress": False, "threads": 1},
              "eval": {"generations": 0}, "merge": True, "card": {"license": "apache-2.0"},
              "output_dir": str(root / name)}
    for key, value in changes.items():
        config[key] = value
    jaforge("sft", config, root / f"{name}.yaml")
    return root / name / "merged-hf"


def continual_child(root: Path, lineage: dict[str, Path], new_tokens: int, steps: int) -> dict[str, Path]:
    """Expand the tokenizer by `new_tokens` Japanese pieces and continue pretraining from the base."""
    expanded = root / "tokenizer-expanded"
    jaforge("tokenizer-expand", {"num_new_tokens": new_tokens, "output_dir": str(expanded),
                                 "candidate_vocab_size": 3000, "base_tokenizer": str(lineage["tokenizer"]),
                                 "sources": [{"name": "ja", "paths": [str(lineage["corpus"])]}]},
            root / "expand.yaml")
    tokens = tokenize(root, lineage["corpus"], expanded, "tokens-expanded")
    vocab = json.loads((expanded / "expansion.json").read_text("utf-8"))
    size = vocab["base_vocab_size"] + len(vocab["new_tokens"])
    run = pretrain(root, "continual", tokens, size, steps, 1e-3, init_from=str(lineage["base"]),
                   expansion=str(expanded / "expansion.json"))
    return {"tokenizer": expanded, "run": run, "hf": export(root, run, expanded, "continual-hf")}
