"""jaforge.train: the pretraining loop (shared with sft), optimisers, schedules, resumable checkpoints.

    jaforge pretrain --config recipes/pretrain-tiny.yaml               # train (resume: auto)
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config …     # the same, DDP

Token shards come from `jaforge tokenize-data` (`jaforge.tokenizer.tokenize_data`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PretrainConfig", "run"]


def run(cfg: Any) -> Any:
    """The pretrain stage: train (or resume) the run described by a PretrainConfig."""
    from jaforge.extras import require

    require("torch", "train", "jaforge pretrain")
    from jaforge.train.trainer import run as pretrain

    return pretrain(cfg)


def __getattr__(name: str) -> Any:
    if name == "PretrainConfig":
        from jaforge.train.config import PretrainConfig

        return PretrainConfig
    raise AttributeError(f"module 'jaforge.train' has no attribute '{name}'")
