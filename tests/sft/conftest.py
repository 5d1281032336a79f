"""Fixtures of the sft tests: a tiny byte-level BPE tokenizer trained on the embedded instruction
data (BOS added to every text, as jaforge's tokenizers do; a copy without the BOS post-processor),
and a tiny Llama-shaped jaforge model (with its Hugging Face export), built once in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

VOCAB = 320


@pytest.fixture(scope="session")
def tokenizer_dirs(tmp_path_factory) -> dict[str, Path]:
    """{"bos": the jaforge-style tokenizer, "plain": the same vocabulary adding no BOS}."""
    pytest.importorskip("tokenizers", reason="tokenizers (the 'tokenizer' extra) is not installed")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge.sft.data import load_dolly_ja, sample_path

    texts = [e.instruction + e.output for e in load_dolly_ja(sample_path("dolly_ja"))[:100]]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    plain = tmp_path_factory.mktemp("tokenizer-without-bos")
    tok.save(str(plain / "tokenizer.json"))
    (plain / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", '
        '"pad_token": "<pad>", "unk_token": "<unk>"}', encoding="utf-8")
    from jaforge.tokenizer.hf import add_special_tokens, write_tokenizer_dir

    add_special_tokens(tok, [])
    return {"bos": write_tokenizer_dir(tok, tmp_path_factory.mktemp("tokenizer"), model_max_length=256),
            "plain": plain}


@pytest.fixture(scope="session")
def tokenizer_dir(tokenizer_dirs) -> Path:
    return tokenizer_dirs["bos"]


@pytest.fixture(scope="session")
def tokenizer_without_bos(tokenizer_dirs) -> Path:
    """The same vocabulary without BOS added to texts (add_bos_token false, no post-processor)."""
    return tokenizer_dirs["plain"]


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    """{"jaforge": model dir, "hf": its Hugging Face export (with the tokenizer)}."""
    torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
    from jaforge.model import ModelConfig, Transformer, export_hf, save_model

    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, n_layer=2, d_model=32, n_head=4, n_kv_head=2, max_seq_len=256,
                      activation="swiglu", norm="rmsnorm", position="rope", tie_embeddings=True)
    model = Transformer(cfg)
    root = tmp_path_factory.mktemp("models")
    save_model(model, cfg, root / "model")
    export_hf(model, cfg, root / "hf", tokenizer_dir=tokenizer_dir)
    return {"jaforge": root / "model", "hf": root / "hf"}


def tiny_sft_config(model_dir: Path, tokenizer_dir: Path, out: Path, **changes) -> dict:
    """A seconds-long LoRA run as plain data (also written as YAML for subprocess runs)."""
    config = {
        "model": str(model_dir), "tokenizer": str(tokenizer_dir), "method": "lora",
        "data": {"sources": [{"name": "dolly_ja", "path": "data/sft/dolly_ja.jsonl", "format": "dolly_ja",
                              "limit": 60},
                             {"name": "chat", "path": "data/sft/chat.jsonl", "format": "chat", "limit": 20}],
                 "seq_len": 256, "packing": True, "eval_fraction": 0.1, "eval_max": 4,
                 "contamination_paths": []},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
        "optim": {"lr": 1e-2},
        "schedule": {"warmup_steps": 2},
        "trainer": {"max_steps": 10, "batch_size": 4, "micro_batch_size": 2, "checkpoint_every": 2,
                    "progress": False, "threads": 1},
        "eval": {"generations": 1, "max_new_tokens": 4},
        "card": {"license": "apache-2.0"},
        "output_dir": str(out),
    }
    for key, value in changes.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config
