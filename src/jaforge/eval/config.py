"""The eval stage's config: which model, which tasks, which prompts, how many shots, where to write.

    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[jnli,marc_ja]' --shots 3
    jaforge eval --config recipes/eval-tiny.yaml --template jp-stable-0.3

Imports no torch: `jaforge eval --help` reads the field docs from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class GenerationConfig:
    max_new_tokens: int = 64
    """Most tokens generated per prompt."""
    temperature: float = 0.0
    """0 = greedy; above 0 samples from the softmax at this temperature."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p (1 = off)."""
    repetition_penalty: float = 1.0
    """CTRL-style penalty on every token already in the sequence (prompt included); 1 = off."""
    stop: list[str] = field(default_factory=list)
    """Stop strings: generation ends at the first one, which is cut from the output."""
    stop_at_eos: bool = True
    """End a sequence at the tokenizer's end-of-sequence token."""
    seed: int = 0
    """Seed of the sampler (ignored when greedy)."""


@dataclass
class EvalConfig:
    model: str = "runs/lifecycle-tiny/hf"
    """A Hugging Face causal-LM directory, a jaforge model directory (model_config.json) or a
    pretrain output directory (its model/ subdirectory is used)."""
    tokenizer: Optional[str] = None
    """Tokenizer directory or tokenizer.json; default: found next to the model (or via its
    pretrain config's token shards)."""
    tasks: list[str] = field(default_factory=lambda: ["jnli", "marc_ja"])
    """Registered task names: jnli, marc_ja, jcommonsenseqa, jsquad."""
    shots: int = 3
    """Few-shot examples drawn from the train split for every evaluated example."""
    template: str = "leaderboard"
    """Prompt template: leaderboard (EleutherAI japanese_leaderboard), jp-stable-0.2,
    jp-stable-0.3 or alpaca-ja."""
    data_dir: Optional[str] = None
    """Directory with the official JGLUE files (<task>-v*/<split>-v*.json); default: jaforge's
    embedded samples."""
    split: str = "valid"
    """Split evaluated; shots come from 'train'."""
    limit: Optional[int] = None
    """Evaluate only the first `limit` examples of each task."""
    seed: int = 1234
    """Few-shot sampling seed (lm-eval's default fewshot_random_seed)."""
    stratified: bool = False
    """Draw the shots of classification tasks evenly across labels (as jp-stable does)."""
    max_length: Optional[int] = None
    """Context window; default: the model's (longer inputs are truncated from the left)."""
    batch_size: int = 16
    """Examples whose contexts run in one forward pass (left-padded, longest first); their
    choices then run together in a second one."""
    device: str = "cpu"
    """torch device."""
    dtype: str = "float32"
    """Weights' dtype for the forward passes: float32, bfloat16 or float16."""
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_new_tokens=32))
    """Decoding of generation tasks (JSQuAD); the template's stop strings are added."""
    output_dir: str = "runs/eval"
    """Where results.json, samples.jsonl, results.md and config.yaml are written."""
