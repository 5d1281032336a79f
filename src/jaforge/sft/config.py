"""The sft stage's config: base model, data mixture and template, LoRA or full tuning, SFT or DPO,
optimiser, schedule, loop and evaluation settings.

    jaforge sft --config recipes/sft-tiny.yaml --trainer.max_steps 20

Every field is documented in place (`jaforge sft --help` lists them). No torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le, Lt, MinLen

from jaforge.model.card import ModelCardConfig
from jaforge.paths import InputPath
from jaforge.train.config import (
    OPERATIONAL_KEYS,
    LoopConfig,
    OptimConfig,
    ScheduleConfig,
)

# An sft run may also change its before/after evaluation, whether it writes a merged model and
# its model card.
SFT_OPERATIONAL_KEYS = OPERATIONAL_KEYS + ["eval", "merge", "card"]


@dataclass
class SourceConfig:
    name: str = "dolly_ja"
    """Name of the source in the mixture report and in the held-out metrics."""
    path: InputPath = "data/sft/dolly_ja.jsonl"
    """A JSON-lines file or one JSON array of records (format hf: .jsonl/.json/.parquet files, a
    glob of them, or a `datasets` save_to_disk directory)."""
    format: str = "dolly_ja"
    """Record layout: dolly_ja, llm_japanese, oasst_ja, chat, preference, safety_ja (the train
    split of data/sft/safety_ja.jsonl), or hf (any `datasets`-loadable data with `columns`);
    registered in jaforge.sft.mixture."""
    columns: dict[str, str] = field(default_factory=dict)
    """format hf: jaforge field → the data's column. Fields: instruction, input, output (Alpaca
    style); prompt, response; or messages (a list of {role, content}); plus system and id. Empty:
    found by name (messages, else instruction/output, else prompt/response)."""
    split: str = "train"
    """format hf: the split of a saved DatasetDict directory."""
    ratio: Annotated[float, Gt(0), Le(1)] = 1.0
    """Share of the source's training examples drawn in each epoch (0 < ratio ≤ 1)."""
    epochs: Annotated[float, Gt(0)] = 1.0
    """Passes over the drawn share; 1.5 = one pass plus half of a fresh draw."""
    limit: Annotated[int, Ge(0)] = 0
    """Read only the first N examples (0: all); for quick runs."""


@dataclass
class SFTDataConfig:
    sources: Annotated[list[SourceConfig], MinLen(1)] = field(default_factory=lambda: [SourceConfig()])
    """The mixture: each source with its ratio and epochs."""
    template: str = "alpaca_ja"
    """Prompt template: alpaca_ja, llm_jp or hf_chat (the tokenizer's chat_template)."""
    chat_template: str = ""
    """hf_chat: a Jinja chat template to use instead of the tokenizer's own."""
    loss_on: Literal["response", "all"] = "response"
    """response: labels −100 on prompt tokens; all: the whole sequence (the paper's code)."""
    seq_len: Annotated[int, Ge(2)] = 256
    """Tokens per training sequence; longer examples are truncated (and counted)."""
    packing: bool = False
    """Pack several examples per sequence (block-causal attention, positions restart per example);
    false: one example per row, padded to the longest row of its batch."""
    eval_fraction: Annotated[float, Ge(0), Lt(1)] = 0.1
    """Share of each source held out (before mixing) for response perplexity."""
    eval_max: Annotated[int, Ge(0)] = 64
    """At most this many held-out examples per source."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of the held-out split, the draws and the example order."""
    contamination_paths: list[InputPath] = field(default_factory=lambda: ["data/eval"])
    """Evaluation files or folders whose text training examples must not contain."""
    contamination_ngram: Annotated[int, Ge(1)] = 20
    """Length in characters of the n-grams compared (whitespace removed)."""
    on_contamination: Literal["warn", "drop", "error"] = "warn"
    """What to do with training examples sharing an n-gram with the evaluation files."""


@dataclass
class LoRASettings:
    r: Annotated[int, Ge(1)] = 4
    """Rank of the low-rank update."""
    alpha: Annotated[float, Gt(0)] = 16.0
    """Scale numerator: the update is (alpha / r) · B A x."""
    dropout: Annotated[float, Ge(0), Lt(1)] = 0.05
    """Dropout on the LoRA branch's input."""
    target_modules: Annotated[list[str], MinLen(1)] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Linear layers to adapt: a module name's last part (q_proj) or a regular expression over the
    full jaforge name (blocks\\.[0-3]\\.attn\\..*)."""
    base_model_name_or_path: str = ""
    """What adapter_config.json names as the adapter's base (a Hub id such as org/model when you
    publish both); default: the base model directory's absolute path, so
    `peft.AutoPeftModelForCausalLM.from_pretrained(adapter_dir)` loads it on this machine."""


@dataclass
class DPOSettings:
    beta: Annotated[float, Gt(0)] = 0.1
    """Strength of the implicit KL penalty towards the frozen reference model."""


@dataclass
class SFTTrainerConfig(LoopConfig):
    """The shared loop's settings (jaforge.train.config.LoopConfig) with sft's defaults."""

    max_steps: Annotated[int, Ge(0)] = 0
    """Optimiser steps; 0: one pass over the mixture (its epochs included)."""
    batch_size: Annotated[int, Ge(1)] = 16
    """Sequences (DPO: pairs) per optimiser step."""
    micro_batch_size: Annotated[int, Ge(1)] = 16
    """Sequences (DPO: pairs) per forward/backward; the rest is gradient accumulation."""
    eval_every: Annotated[int, Ge(0)] = 0
    """Held-out response perplexity every N steps (and at the end); 0: before and after only."""
    checkpoint_every: Annotated[int, Ge(0)] = 50
    """Save a resumable checkpoint every N steps and at the last step (0: at the last step only)."""
    resume_may_change: list[str] = field(default_factory=lambda: list(SFT_OPERATIONAL_KEYS))
    """Dotted config keys (and their children) a resumed run may change from the saved config.yaml;
    any other change is refused, naming the keys (trainer.resume and this list may always change)."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of the LoRA init and dropout."""


@dataclass
class SFTEvalConfig:
    generations: Annotated[int, Ge(0)] = 3
    """Held-out prompts answered greedily before and after tuning (0: none)."""
    max_new_tokens: Annotated[int, Ge(1)] = 48
    tasks: list[str] = field(default_factory=list)
    """JGLUE-format tasks (jnli, marc_ja, jcommonsenseqa, …) scored before and after by the eval stage."""
    shots: Annotated[int, Ge(0)] = 3
    """Few-shot examples per task prompt."""
    task_limit: Annotated[int, Ge(0)] = 0
    """Score only the first N examples of each task (0: all)."""
    batch_size: Annotated[int, Ge(1)] = 16
    """Examples per forward pass when measuring perplexity."""


@dataclass
class SFTConfig:
    model: InputPath = "runs/lifecycle-tiny/pretrain/model"
    """Base model: a jaforge model dir, a pretrain run dir or a Hugging Face Llama dir."""
    tokenizer: InputPath = ""
    """Tokenizer dir (tokenizer.json); empty: the model dir, else its run's ../tokenizer."""
    method: Literal["lora", "full"] = "lora"
    """lora: train low-rank adapters (peft) on a frozen base; full: train every weight."""
    objective: Literal["sft", "dpo"] = "sft"
    """sft: next-token loss on instruction data; dpo: preference pairs against a frozen reference."""
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    lora: LoRASettings = field(default_factory=LoRASettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, weight_decay=0.0))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_steps=10))
    trainer: SFTTrainerConfig = field(default_factory=SFTTrainerConfig)
    eval: SFTEvalConfig = field(default_factory=SFTEvalConfig)
    merge: bool = False
    """LoRA: also write the merged model (jaforge: merged/, Hugging Face: merged-hf/)."""
    card: ModelCardConfig = field(default_factory=ModelCardConfig)
    """The model card (README.md) of the Hugging Face export (hf/ or merged-hf/): card.license is
    required when the run writes a model (full tuning, or LoRA with merge); base_model defaults to
    the base model, datasets to the sources' names."""
    output_dir: str = "runs/sft"
    """Run dir: config.yaml, data_report.json, metrics.jsonl, checkpoints/, adapter/ (LoRA),
    model/ + hf/ (full) or merged/ + merged-hf/ (LoRA with merge), results.json and results.md."""


@dataclass
class MergeConfig:
    run_dir: InputPath = "runs/sft"
    """An sft run (its config.yaml names the base model; its adapter/ holds the LoRA weights)."""
    output_dir: str = ""
    """Where to write model/ (jaforge) and hf/ (Hugging Face); empty: <run_dir>/merged."""
    hf: bool = True
    """Also write the Hugging Face Llama export (tokenizer, chat template, model card)."""
    license: str = ""
    """Licence in the export's model card; default: the sft run's card.license."""
