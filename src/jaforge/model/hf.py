"""Hugging Face Llama format: export a jaforge model, import a Llama checkpoint directory.

    export_hf(model, cfg, "runs/hf", tokenizer_dir="runs/tokenizer")
    AutoModelForCausalLM.from_pretrained("runs/hf")          # LlamaForCausalLM, same logits
    model, cfg = import_hf("some/llama-dir")                  # e.g. for continual pretraining

The Llama-compatible subset is RoPE (plain, or linear position interpolation), RMSNorm, SwiGLU,
pre-norm, MHA/GQA/MQA, tied or untied embeddings, with or without projection biases, no qk-norm,
no sliding window, no MoE and unit residual scale; any other switch fails with an error that
names it. Weights map one to one by name (jaforge uses Llama's half-split RoPE layout, so q/k need
no permutation). Neither direction needs `transformers`: config.json is written and read as
JSON, weights with safetensors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional, Union

import torch

from jaforge.extras import require
from jaforge.model.checkpoint import TIED_HEAD, atomic_write_bytes
from jaforge.model.config import ModelConfig
from jaforge.model.transformer import Transformer

LLAMA_SWITCHES = {"mixer": "attention", "position": "rope", "norm": "rmsnorm", "activation": "swiglu",
                  "norm_placement": "pre", "qk_norm": False, "sliding_window": None,
                  "moe_experts": 0, "residual_scale": 1.0, "residual_scale_by_depth": False}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.model", "added_tokens.json", "expansion.json")
LAYER_NAMES = {"attn_norm.weight": "input_layernorm.weight",
               "ffn_norm.weight": "post_attention_layernorm.weight",
               "attn.": "self_attn.", "ffn.": "mlp."}


class HFExportError(ValueError):
    """The model uses a switch that the Hugging Face Llama architecture cannot express."""


def check_llama_compatible(cfg: ModelConfig) -> None:
    """Raise HFExportError naming every switch whose value Llama cannot express."""
    wrong = [f"{key}={getattr(cfg, key)!r} (Llama needs {key}={needed!r})"
             for key, needed in LLAMA_SWITCHES.items() if getattr(cfg, key) != needed]
    if wrong:
        raise HFExportError("cannot export to the Hugging Face Llama format; no HF equivalent for: "
                            + "; ".join(wrong))


def to_hf_name(name: str) -> str:
    """jaforge parameter name → Llama name (`blocks.0.attn.q_proj.weight` →
    `model.layers.0.self_attn.q_proj.weight`)."""
    if name.startswith("blocks."):
        _, layer, rest = name.split(".", 2)
        for ours, theirs in LAYER_NAMES.items():
            if rest.startswith(ours):
                rest = theirs + rest[len(ours):]
                break
        return f"model.layers.{layer}.{rest}"
    return {"tok_embeddings.weight": "model.embed_tokens.weight", "norm_f.weight": "model.norm.weight",
            TIED_HEAD: TIED_HEAD}[name]


def llama_config(cfg: ModelConfig, dtype: torch.dtype, special_ids: dict[str, Optional[int]]) -> dict:
    """config.json for LlamaForCausalLM (rope given both ways, for transformers 4.x and 5.x)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_kv_head, "head_dim": cfg.head_dim, "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_base, **rope_entries(cfg), "attention_bias": cfg.bias, "mlp_bias": cfg.bias,
        "attention_dropout": 0.0, "initializer_range": cfg.init_std,
        "tie_word_embeddings": cfg.tie_embeddings, "use_cache": True,
        "dtype": str(dtype).removeprefix("torch."), "torch_dtype": str(dtype).removeprefix("torch."),
        **special_ids,
    }


def rope_entries(cfg: ModelConfig) -> dict[str, Any]:
    """rope_parameters (transformers 5) and rope_scaling (4.x): plain, or linear interpolation."""
    if cfg.rope_scale == 1.0:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_base},
                "rope_scaling": None}
    linear = {"rope_type": "linear", "factor": cfg.rope_scale}
    return {"rope_parameters": {**linear, "rope_theta": cfg.rope_base},
            "rope_scaling": {**linear, "type": "linear"}}


def tokenizer_special_ids(tokenizer_dir: Optional[Path]) -> dict[str, Optional[int]]:
    """bos/eos/pad ids from a tokenizer directory's tokenizer.json (jaforge's defaults 1/2/3)."""
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3}
    path = tokenizer_dir / "tokenizer.json" if tokenizer_dir else None
    if path is None or not path.exists():
        return ids
    vocab = {t["content"]: t["id"] for t in json.loads(path.read_text("utf-8")).get("added_tokens", [])}
    for key, piece in (("bos_token_id", "<s>"), ("eos_token_id", "</s>"), ("pad_token_id", "<pad>")):
        ids[key] = vocab.get(piece, ids[key])
    return ids


def export_hf(model: Transformer, cfg: ModelConfig, out_dir: Union[str, Path],
              tokenizer_dir: Union[str, Path, None] = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write `model.safetensors` + `config.json` (+ tokenizer files) in Llama format into `out_dir`."""
    check_llama_compatible(cfg)
    safetensors_torch = require("safetensors.torch", "hf", "Hugging Face export")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = [p.name for p in out_dir.iterdir()
             if p.name.endswith((".safetensors", ".safetensors.index.json", ".bin"))
             and p.name != "model.safetensors"]
    if stale:
        raise FileExistsError(f"{out_dir} holds other weights ({', '.join(sorted(stale))}) that "
                              "transformers would load instead of or beside the export; choose an empty out_dir")
    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else None
    state = {to_hf_name(name): t.detach().to(dtype).contiguous()
             for name, t in model.state_dict().items()
             if not (name == TIED_HEAD and cfg.tie_embeddings)}
    atomic_write_bytes(out_dir / "model.safetensors",
                       safetensors_torch.save(state, metadata={"format": "pt"}))
    config = llama_config(cfg, dtype, tokenizer_special_ids(tokenizer_dir))
    atomic_write_bytes(out_dir / "config.json", json.dumps(config, indent=2).encode("utf-8"))
    if tokenizer_dir is not None:
        copy_tokenizer(tokenizer_dir, out_dir)
    return out_dir


def copy_tokenizer(tokenizer_dir: Path, out_dir: Path) -> list[str]:
    """Copy the tokenizer files that exist in `tokenizer_dir`; fail if there is no tokenizer."""
    copied = [n for n in TOKENIZER_FILES if (tokenizer_dir / n).exists()]
    if not any(n in copied for n in ("tokenizer.json", "tokenizer.model")):
        raise FileNotFoundError(f"{tokenizer_dir} holds neither tokenizer.json nor tokenizer.model")
    for name in copied:
        shutil.copyfile(tokenizer_dir / name, out_dir / name)
    return copied


def config_from_llama(hf: dict[str, Any]) -> ModelConfig:
    """The ModelConfig equal to a Llama config.json; fails on features jaforge does not model."""
    if hf.get("model_type") != "llama":
        raise HFExportError(f"only Llama checkpoints can be imported, got model_type={hf.get('model_type')!r}")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "linear") or hf.get("hidden_act", "silu") != "silu":
        raise HFExportError(f"unsupported Llama variant: rope_type={rope_type!r}, "
                            f"hidden_act={hf.get('hidden_act')!r} (jaforge models default or linear "
                            f"RoPE + silu)")
    if hf.get("attention_bias", False) != hf.get("mlp_bias", False):
        raise HFExportError("attention_bias and mlp_bias differ; jaforge has one `bias` switch")
    n_head = hf["num_attention_heads"]
    return ModelConfig(
        vocab_size=hf["vocab_size"], n_layer=hf["num_hidden_layers"], d_model=hf["hidden_size"],
        n_head=n_head, n_kv_head=hf.get("num_key_value_heads") or n_head,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // n_head, d_ff=hf["intermediate_size"],
        max_seq_len=hf.get("max_position_embeddings", 2048), activation="swiglu", norm="rmsnorm",
        norm_eps=hf.get("rms_norm_eps", 1e-6), position="rope",
        rope_base=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        rope_scale=float(rope.get("factor", 1.0)) if rope_type == "linear" else 1.0,
        bias=bool(hf.get("attention_bias", False)), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        init_std=hf.get("initializer_range", 0.02))


def read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of a (possibly sharded) safetensors checkpoint."""
    safetensors_torch = require("safetensors.torch", "hf", "Hugging Face import")
    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{hf_dir} holds no *.safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(safetensors_torch.load_file(str(path)))
    return state


def import_hf(hf_dir: Union[str, Path]) -> tuple[Transformer, ModelConfig]:
    """Build a jaforge Transformer from a Hugging Face Llama directory (float32 weights)."""
    hf_dir = Path(hf_dir)
    cfg = config_from_llama(json.loads((hf_dir / "config.json").read_text("utf-8")))
    model = Transformer(cfg)
    hf_state = read_hf_weights(hf_dir)
    state = {}
    for name in model.state_dict():
        if name == TIED_HEAD and cfg.tie_embeddings:
            continue
        hf_name = to_hf_name(name)
        if hf_name not in hf_state:
            raise KeyError(f"{hf_dir}: weight {hf_name!r} is missing")
        state[name] = hf_state[hf_name].float()
    model.load_state_dict(state, strict=not cfg.tie_embeddings)
    return model, cfg
