"""jaforge.model: one configurable decoder-only transformer, its layers, counts, checkpoints and
Hugging Face export/import.

    from jaforge.model import ModelConfig, Transformer, count_params, estimate_flops
    cfg = ModelConfig(vocab_size=8000, n_layer=4, d_model=256, n_head=4, n_kv_head=2)
    model = Transformer(cfg)
    out = model(input_ids, labels=input_ids)

    jaforge export --checkpoint runs/pretrain --tokenizer_dir runs/tokenizer --output_dir runs/hf

The package needs torch (`pip install 'jaforge[train]'`).
"""

from __future__ import annotations

from jaforge.model.cache import KVCache
from jaforge.model.checkpoint import load_model, save_model
from jaforge.model.config import ModelConfig
from jaforge.model.counts import count_params, estimate_flops
from jaforge.model.hf import export_hf, import_hf
from jaforge.model.transformer import ModelOutput, Transformer

__all__ = ["ModelConfig", "Transformer", "ModelOutput", "KVCache", "count_params", "estimate_flops",
           "save_model", "load_model", "export_hf", "import_hf"]
