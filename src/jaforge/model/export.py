"""The export stage: a jaforge model directory → a Hugging Face Llama directory.

    jaforge export --checkpoint runs/pretrain/final --out_dir runs/hf --tokenizer_dir runs/tokenizer

`checkpoint` is a directory written by `jaforge.model.checkpoint.save_model` (model.safetensors +
model_config.json), or one holding such a directory as `model/` (a pretrain run's output
directory, or one of its `checkpoints/step-*` directories). `out_dir` receives model.safetensors, config.json, the tokenizer files and
config.yaml (this stage's resolved config); `transformers.AutoModelForCausalLM.from_pretrained`
and `AutoTokenizer.from_pretrained` load it. Models using a switch without a Llama equivalent
(ALiBi, MoE, LayerNorm, …) fail with an error naming the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from jaforge.config import save_config


@dataclass
class ExportConfig:
    checkpoint: str = ""
    """A jaforge model directory (model.safetensors + model_config.json), or a pretrain output or
    checkpoint directory that holds one as `model/`."""
    out_dir: str = "runs/hf"
    """Where the Hugging Face directory is written."""
    tokenizer_dir: Optional[str] = None
    """Tokenizer directory whose files (tokenizer.json, tokenizer_config.json, …) are copied in."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Precision of the exported weights."""


def run(cfg: ExportConfig) -> Path:
    """Export the checkpoint to `out_dir` and return that path."""
    from jaforge.extras import require

    torch = require("torch", "train", "jaforge export")
    from jaforge.model.checkpoint import load_model
    from jaforge.model.hf import check_llama_compatible, export_hf

    model, model_cfg = load_model(model_directory(cfg.checkpoint))
    check_llama_compatible(model_cfg)
    out = Path(cfg.out_dir)
    export_hf(model, model_cfg, out, tokenizer_dir=cfg.tokenizer_dir, dtype=getattr(torch, cfg.dtype))
    save_config(cfg, out / "config.yaml")
    return out


def model_directory(checkpoint: str) -> Path:
    """`checkpoint` itself when it holds model_config.json, else its `model/` subdirectory."""
    if not checkpoint:
        raise ValueError("set --checkpoint to a jaforge model directory (model_config.json + "
                         "model.safetensors) or a pretrain output directory")
    for candidate in (Path(checkpoint), Path(checkpoint) / "model"):
        if (candidate / "model_config.json").exists():
            return candidate
    raise FileNotFoundError(f"--checkpoint {checkpoint}: neither it nor {Path(checkpoint) / 'model'} "
                            "holds model_config.json + model.safetensors")
