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
The stages need torch and safetensors (`pip install 'jaforge[merge]'`).
"""

from __future__ import annotations

from jaforge.merge.config import ChatVectorConfig, MergeConfig
from jaforge.merge.stage import run

__all__ = ["MergeConfig", "ChatVectorConfig", "run"]
