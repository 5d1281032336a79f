"""The merge stage: mergekit-compatible merges, chat vectors with vocabulary care, and CycleQD.

    jaforge merge --config recipes/merge-ties.yaml               # or any mergekit YAML recipe
    jaforge merge-chat-vector --config recipes/merge-chat-vector.yaml
    jaforge cycleqd --config recipes/cycleqd-tiny.yaml

Modules: `config` (the stages' configs: mergekit's YAML plus jaforge keys), `methods` (one typed
function per method, registered by name), `parameters` (scalars, gradients over depth, filters),
`plan` (config → output tensors), `tensors` (lazy safetensors reading, streamed sharded writing),
`models` (HF and jaforge inputs as HF-named tensors), `vocab` (preflight, alignment by token string),
`engine` (tensor-by-tensor execution), `output` and `card` (config.json, tokenizer, model card),
`stage` (`jaforge merge`), `chat_vector` (`jaforge merge-chat-vector`), `cycleqd/` (`jaforge cycleqd`).
The configs import no torch.
"""

from __future__ import annotations

from typing import Any

from jaforge.extras import require
from jaforge.merge.config import ChatVectorConfig, MergeConfig

__all__ = ["MergeConfig", "ChatVectorConfig", "run"]


def run(cfg: MergeConfig) -> Any:
    """`jaforge merge`: merge the configured models into cfg.output_dir; returns a StageResult."""
    require("torch", "train", "jaforge merge")
    require("safetensors", "hf", "jaforge merge")
    from jaforge.merge.stage import run as merge  # torch only once a merge runs

    return merge(cfg)
