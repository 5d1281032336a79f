"""jaforge.train: the training loop (shared by pretrain and sft), optimisers, schedules, resumable
checkpoints, and the pretrain stage.

    jaforge pretrain --config recipes/pretrain-tiny.yaml               # train (resume: auto)
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config …     # the same, DDP

Token shards come from `jaforge tokenize-data` (`jaforge.tokenizer.tokenize_data`). The package
needs torch (`pip install 'jaforge[train]'`).
"""

from __future__ import annotations

from jaforge.train.config import PretrainConfig
from jaforge.train.plan import estimate
from jaforge.train.trainer import run

__all__ = ["PretrainConfig", "run", "estimate"]
