"""The sft stage: Japanese instruction tuning (full or LoRA; SFT or DPO) with data mixing.

    jaforge sft --config recipes/sft-tiny.yaml          # LoRA on the tiny pretrained model
    jaforge sft-merge --run_dir runs/sft-tiny           # fold the adapter into the base model

Pieces: `data` (loaders: dolly-ja, oasst1-89k-ja, llm-japanese-dataset, chat, preference),
`mixture` (ratios × epochs, held-out split), `contamination` (n-gram overlap with eval files),
`templates` (alpaca_ja, llm_jp, hf_chat), `encoding` (labels, packing, padding), `lora` (peft
adapters under Hugging Face names), `trainer` (the stage on jaforge.train.loop), `evaluate`
(before/after tables).
`SFTConfig` and `run` import no torch until a run starts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SFTConfig", "MergeConfig", "run"]


def run(cfg: Any) -> Any:
    """The sft stage: tune (or resume) the run described by an SFTConfig; returns a StageResult."""
    from jaforge.extras import require

    require("torch", "train", "jaforge sft")
    require("peft", "sft", "jaforge sft") if cfg.method == "lora" else None
    from jaforge.sft.trainer import run as tune

    return tune(cfg)


def __getattr__(name: str) -> Any:
    if name in ("SFTConfig", "MergeConfig"):
        from jaforge.sft import config

        return getattr(config, name)
    raise AttributeError(f"module 'jaforge.sft' has no attribute '{name}'")
