"""The eval stage's config: which model, which tasks, which prompts, how many shots, where to write.

    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[japanese_leaderboard]'
    jaforge eval --config recipes/eval-tiny.yaml --template jp-stable-0.3 --shots 3
    jaforge eval --model my-1b --device cuda --dtype bfloat16 --batch_size 32

Ranges are declared on the fields (a negative `shots` or `limit` fails naming the key). Imports
no torch: `jaforge eval --help` reads the field docs from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

from annotated_types import Ge, Gt, Le, MinLen
from jaforge.paths import InputPath


@dataclass
class GenerationConfig:
    max_new_tokens: Annotated[int, Ge(1)] = 64
    """Most tokens generated per prompt."""
    temperature: Annotated[float, Ge(0)] = 0.0
    """0 = greedy; above 0 samples from the softmax at this temperature."""
    top_k: Annotated[int, Ge(0)] = 0
    """Sample among the k most likely tokens only (0 = off); applied before top_p, as transformers does."""
    top_p: Annotated[float, Gt(0), Le(1)] = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p (1 = off)."""
    repetition_penalty: Annotated[float, Gt(0)] = 1.0
    """CTRL-style penalty on every token already in the sequence (prompt included); 1 = off."""
    stop: list[str] = field(default_factory=list)
    """Stop strings: generation ends at the first one, which is cut from the output."""
    stop_at_eos: bool = True
    """End a sequence at the tokenizer's end-of-sequence token."""
    seed: int = 0
    """Seed of the sampler (ignored when greedy; sampled texts also depend on batch_size)."""


@dataclass
class EvalConfig:
    model: InputPath = "runs/lifecycle-tiny/hf"
    """A Hugging Face causal-LM directory, a jaforge model directory (model_config.json) or a
    pretrain output directory (its model/ subdirectory is used)."""
    tokenizer: Optional[InputPath] = None
    """Tokenizer directory or tokenizer.json; default: found next to the model (or via its
    pretrain config's token shards)."""
    tasks: Annotated[list[str], MinLen(1)] = field(default_factory=lambda: ["jnli", "marc_ja"])
    """Task or group names: jnli, marc_ja, jcommonsenseqa, jsquad, jaqket_v2, mgsm, xlsum,
    xwinograd, jsts, safety_ja, translation_en_ja, translation_ja_en (chrF); the group
    japanese_leaderboard runs lm-eval's eight."""
    shots: Optional[Annotated[int, Ge(0)]] = None
    """Few-shot examples per evaluated example; default: each task's japanese_leaderboard
    setting (jnli/marc_ja/jcommonsenseqa 3, jsquad 2, jaqket_v2 1, mgsm 5, xlsum 1). Tasks
    without a few-shot split (xwinograd, safety_ja, translation_*) stay 0-shot."""
    template: str = "leaderboard"
    """Prompt template: leaderboard (EleutherAI japanese_leaderboard), jp-stable-0.2,
    jp-stable-0.3 or alpaca-ja (the last three for jnli, marc_ja, jcommonsenseqa, jsquad)."""
    data_dir: Optional[InputPath] = None
    """Directory with the published task files (JGLUE's <task>-v*/<split>-v*.json, jaqket_v2/,
    mgsm/, xlsum/, xwinograd/; see the README's task table); default: jaforge's embedded samples."""
    split: Optional[Literal["train", "validation", "test"]] = None
    """Split evaluated; default: the one japanese_leaderboard evaluates (validation for JGLUE
    and JAQKET, test for MGSM, XL-Sum and XWinograd)."""
    limit: Optional[Annotated[int, Ge(1)]] = None
    """Evaluate only the first `limit` examples of each task."""
    seed: int = 1234
    """Few-shot sampling seed (lm-eval's default fewshot_random_seed)."""
    stratified: bool = False
    """Draw the shots of classification tasks evenly across labels (as jp-stable does)."""
    max_length: Optional[Annotated[int, Ge(2)]] = None
    """Context window; default: the model's (longer inputs are truncated from the left)."""
    batch_size: Annotated[int, Ge(1)] = 16
    """Contexts per forward pass (length-sorted, left-padded); choices of a batch run together
    in a second pass; generation decodes this many prompts at once."""
    device: str = "auto"
    """torch device: auto (cuda when there is a GPU, else cpu), cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype: auto = float32 on CPU, bfloat16 on CUDA (float16 where bf16 is missing)."""
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_new_tokens=256))
    """Decoding of generation tasks (greedy, lm-eval's 256 new tokens by default; a budget that
    leaves no room for the prompt is cut to half the model's window); the template's stop strings
    are added."""
    output_dir: str = "runs/eval"
    """Where results.json, samples.jsonl, results.md, result.json and config.yaml are written."""
