"""jaforge.train: token data, the pretraining loop, optimisers, schedules and resumable checkpoints.

    jaforge tokenize-data --input '[runs/corpus/data]' --tokenizer runs/tokenizer --output_dir runs/tokens
    jaforge pretrain --config recipes/pretrain-tiny.yaml               # train (resume: auto)
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config …     # the same, DDP

`tokenize-data` needs only numpy and `tokenizers`; `pretrain` needs torch (`jaforge[train]`).
Nothing heavy is imported until a stage runs; the tokenize-data stage is the module
`jaforge.train.tokenize_data` (its `TokenizeDataConfig` and `run`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PretrainConfig", "run", "TokenizeDataConfig"]


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
    if name == "TokenizeDataConfig":
        from jaforge.train.tokenize_data import TokenizeDataConfig

        return TokenizeDataConfig
    raise AttributeError(f"module 'jaforge.train' has no attribute '{name}'")
