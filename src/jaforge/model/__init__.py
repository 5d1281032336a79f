"""jaforge.model: one configurable decoder-only transformer, its layers, counts, checkpoints and
Hugging Face export/import.

    from jaforge.model import ModelConfig, Transformer, count_params, estimate_flops
    cfg = ModelConfig(vocab_size=8000, n_layer=4, d_model=256, n_head=4, n_kv_head=2)
    model = Transformer(cfg)
    out = model(input_ids, labels=input_ids)

    jaforge export --checkpoint runs/pretrain/final --out_dir runs/hf --tokenizer_dir runs/tok

`ModelConfig`, the counts and the export stage's config import no torch; the model classes are
imported on first use (torch comes with `pip install 'jaforge[train]'`).
"""

from __future__ import annotations

from typing import Any

from jaforge.model.config import ModelConfig
from jaforge.model.counts import count_params, estimate_flops

__all__ = ["ModelConfig", "Transformer", "ModelOutput", "KVCache", "count_params", "estimate_flops",
           "save_model", "load_model", "export_hf", "import_hf"]

_LAZY = {"Transformer": "jaforge.model.transformer", "ModelOutput": "jaforge.model.transformer",
         "KVCache": "jaforge.model.cache",
         "save_model": "jaforge.model.checkpoint", "load_model": "jaforge.model.checkpoint",
         "export_hf": "jaforge.model.hf", "import_hf": "jaforge.model.hf"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'jaforge.model' has no attribute '{name}'")
    from jaforge.extras import require

    require("torch", "train", "the jaforge model")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
