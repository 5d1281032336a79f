"""The merge stages' configs. `MergeConfig` is mergekit's YAML format plus a few jaforge keys, so a
mergekit recipe runs unchanged (`jaforge merge --config mergekit.yml --output_dir runs/merged`).

    merge_method: ties                # linear, task_arithmetic, ties, dare_linear, dare_ties, slerp,
    base_model: runs/base             #   model_stock, passthrough
    models:
      - model: runs/expert-a
        parameters: {weight: 0.5, density: [1.0, 0.7, 0.1]}   # a gradient over depth
      - model: runs/expert-b
        parameters:
          weight: [{filter: mlp, value: 0.3}, {value: 0.6}]   # per tensor (name contains 'mlp')
    parameters: {normalize: true}
    dtype: float32
    tokenizer: {source: base}         # align embedding rows by token string (or union)
    output_dir: runs/merged           # jaforge's keys: output_dir, seed, max_shard_bytes, model_card, card

Parameter values follow mergekit: a number, a list (interpolated over the layers: the first value
at layer 0, the last at the last layer, embeddings and final norm/head take the first), or a list of
`{filter, value}` (the first whose filter is part of the tensor name wins). A model's own
parameters come before the slice's, which come before the global ones. No torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

from annotated_types import Ge, MinLen

from jaforge.model.card import ModelCardConfig
from jaforge.paths import InputPath, ModelPath

DTYPES = ("float32", "float16", "bfloat16", "float64")


@dataclass
class ModelInput:
    model: ModelPath
    """A Hugging Face model directory (config.json + safetensors) or a jaforge model directory;
    `<model>+<adapter>` applies a PEFT LoRA adapter to it first (mergekit's syntax)."""
    parameters: Optional[dict[str, Any]] = None
    """This model's merge parameters (weight, density …), before the slice's and the global ones."""


@dataclass
class SliceInput:
    model: ModelPath
    """The model the layers come from."""
    layer_range: Annotated[list[int], MinLen(2)]
    """[first, end) layers taken from the model."""
    parameters: Optional[dict[str, Any]] = None
    """This source's parameters."""


@dataclass
class OutputSlice:
    sources: Annotated[list[SliceInput], MinLen(1)]
    """Layer ranges of equal length, one per model, merged into consecutive output layers."""
    base_model: Optional[ModelPath] = None
    """This slice's base model (default: the global base_model)."""
    parameters: Optional[dict[str, Any]] = None
    """Parameters of this slice, before the global ones."""


@dataclass
class TokenizerSettings:
    source: str = "base"
    """Output vocabulary: base (the base model's), union (all tokens of all inputs), or a model path.
    Embedding and output-head rows of every input are aligned to it by token string, not by index."""
    pad_to_multiple_of: Optional[Annotated[int, Ge(1)]] = None
    """Pad the embedding rows (with zeros) to a multiple of this."""


@dataclass
class MergeConfig:
    merge_method: str = "linear"
    """linear, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della,
    della_linear, slerp, nuslerp, model_stock or passthrough (mergekit's names and parameters)."""
    models: list[ModelInput] = field(default_factory=list)
    """The models merged tensor by tensor (or use `slices`)."""
    slices: list[OutputSlice] = field(default_factory=list)
    """Layer ranges merged into the output layer by layer (mergekit's slices)."""
    base_model: Optional[ModelPath] = None
    """The base of task-vector methods (task_arithmetic, ties, dare_*, model_stock) and of slerp;
    added to the inputs when not listed."""
    parameters: Optional[dict[str, Any]] = None
    """Global parameters: per-model ones (weight, density) as defaults, and the method's own
    (normalize, lambda, t, rescale, filter_wise …)."""
    dtype: Optional[str] = None
    """Dtype of the merged tensors (default: the inputs' own); the arithmetic runs in float32
    (float64 for float64 inputs)."""
    out_dtype: Optional[str] = None
    """Dtype written (default: dtype)."""
    tokenizer_source: Optional[str] = None
    """mergekit's shorthand for tokenizer.source."""
    tokenizer: Optional[TokenizerSettings] = None
    """Vocabulary alignment; without it, inputs whose vocabularies differ are refused."""
    chat_template: Optional[str] = None
    """A Jinja chat template written into the output's tokenizer_config.json."""
    seed: int = 0
    """Seed of the random masks of dare_linear / dare_ties (drawn per tensor and model)."""
    max_shard_bytes: Annotated[int, Ge(0)] = 5_000_000_000
    """Largest output safetensors shard in bytes (0: one file)."""
    model_card: bool = True
    """Write README.md (Hub metadata, how it was made, the recipe)."""
    card: ModelCardConfig = field(default_factory=ModelCardConfig)
    """The model card: card.license, else the licence every input's own card states (inputs that
    state none or disagree are refused); language, datasets, eval_results, intended use …"""
    output_dir: str = "runs/merge"
    """The merged Hugging Face model directory (config.json, tokenizer, safetensors, README.md),
    plus jaforge's config.yaml and result.json."""


@dataclass
class ChatVectorConfig:
    continual: InputPath = "runs/continual/hf"
    """θ_cp: the continually pretrained model that receives the vector (its vocabulary may be larger)."""
    chat: InputPath = "runs/chat/hf"
    """θ_chat: the instruction-tuned model made from `base_model`."""
    base_model: InputPath = "runs/base/hf"
    """θ_base: the model both `chat` and `continual` started from (not `base:`, which names presets)."""
    alpha: float = 1.0
    """Scale of the chat vector: θ = θ_cp + α·(θ_chat − θ_base)."""
    include: list[str] = field(default_factory=lambda: [".*"])
    """Regular expressions over tensor names (HF names) that receive the vector."""
    exclude: list[str] = field(default_factory=list)
    """Regular expressions of tensors that keep θ_cp (e.g. embed_tokens, lm_head)."""
    dtype: Optional[str] = None
    """Dtype written (default: the continual model's)."""
    max_shard_bytes: Annotated[int, Ge(0)] = 5_000_000_000
    """Largest output safetensors shard in bytes (0: one file)."""
    model_card: bool = True
    """Write README.md (Hub metadata, how it was made, the recipe)."""
    card: ModelCardConfig = field(default_factory=ModelCardConfig)
    """The model card: card.license, else the licence the three inputs' cards all state."""
    output_dir: str = "runs/chat-vector"
    """The resulting Hugging Face model directory."""
