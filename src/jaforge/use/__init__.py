"""Using a trained model: `jaforge generate` (prompts in, JSONL out) and `jaforge chat`.

    jaforge generate --model runs/lifecycle-tiny/hf --prompts '[日本の首都は]' --generation.max_new_tokens 32
    jaforge chat --model runs/lifecycle-tiny/sft/merged

Both read jaforge model directories and Hugging Face causal-LM directories (the eval stage's
backends: the same tokenization, key/value cache and device/dtype switches).
"""

from __future__ import annotations

from jaforge.use.generate import GenerateConfig, run

__all__ = ["GenerateConfig", "run"]
