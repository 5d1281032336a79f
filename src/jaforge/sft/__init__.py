"""The sft stage: Japanese instruction tuning (full or LoRA; SFT or DPO) with data mixing.

    jaforge sft --config recipes/sft-tiny.yaml          # LoRA on the tiny pretrained model
    jaforge sft-merge --run_dir runs/sft-tiny           # fold the adapter into the base model

Pieces: `data` (loaders: dolly-ja, oasst1-89k-ja, llm-japanese-dataset, chat, preference),
`mixture` (ratios × epochs, held-out split), `contamination` (n-gram overlap with eval files),
`templates` (alpaca_ja, llm_jp, hf_chat), `encoding` (labels, packing, padding), `lora` (peft
adapters under Hugging Face names), `trainer` (the stage on jaforge.train.loop), `evaluate`
(before/after tables).
The package needs torch (and peft for LoRA: `pip install 'jaforge[sft]'`).
"""

from __future__ import annotations

from jaforge.sft.config import MergeConfig, SFTConfig
from jaforge.sft.trainer import run

__all__ = ["SFTConfig", "MergeConfig", "run"]
