"""The pretrain stage's config (data mixture, model, optimiser, schedule, trainer loop, output dir)
and `LoopConfig`, the settings of the one training loop that every training stage extends.

    jaforge pretrain --config recipes/pretrain-tiny.yaml --trainer.max_steps 200

Every field is documented in place with its range (`jaforge pretrain --help` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

from annotated_types import Ge, Gt, Le, Lt, MinLen

from jaforge.model import ModelConfig
from jaforge.paths import InputPath

# Keys a resumed run may change: how it is run, logged and kept, not what it learns.
OPERATIONAL_KEYS = [
    "trainer.progress", "trainer.log_every", "trainer.checkpoint_every", "trainer.keep_last",
    "trainer.threads", "trainer.eval_every", "trainer.eval_batches", "trainer.report_to",
    "trainer.tensorboard", "trainer.peak_flops", "trainer.keep_host_memory", "trainer.device", "trainer.compile",
    "trainer.prefetch", "trainer.activation_checkpointing", "trainer.strategy", "trainer.eval_at_start",
]


@dataclass
class DatasetConfig:
    name: str = "ja"
    """Name used by mixture phases and in per-dataset validation metrics."""
    path: InputPath = "runs/tokens"
    """A `jaforge tokenize-data` output directory (train.bin, train.idx.npy, val.*, meta.json)."""
    weight: Annotated[float, Ge(0)] = 1.0
    """Sampling weight when no mixture phases are given."""


@dataclass
class MixturePhase:
    steps: Annotated[int, Ge(0)] = 0
    """Optimiser steps this phase lasts; the last phase runs to the end of training."""
    weights: dict[str, Annotated[float, Ge(0)]] = field(default_factory=dict)
    """Sampling weight per dataset name (missing names get 0), e.g. `{en: 0.7, code: 0.3}`."""
    seq_len: Annotated[int, Ge(0)] = 0
    """Sequence length in this phase (a short→long curriculum); 0: data.seq_len, the longest."""


@dataclass
class DataConfig:
    datasets: Annotated[list[DatasetConfig], MinLen(1)] = field(default_factory=lambda: [DatasetConfig()])
    """Token datasets to draw training windows from."""
    phases: list[MixturePhase] = field(default_factory=list)
    """Mixture stages in order (e.g. English+code first, then Japanese); empty: dataset weights."""
    seq_len: Annotated[int, Ge(1)] = 256
    """Tokens per training sequence (windows of seq_len + 1 tokens give inputs and targets)."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of the data order; the order depends only on this seed and the step."""
    allow_mixed_bos: bool = False
    """Allow datasets whose documents start with BOS beside datasets whose documents do not (or
    whose meta.json predates the `bos` flag); by default such a mixture is refused."""


@dataclass
class OptimConfig:
    name: str = "adamw"
    """Optimiser: adamw, lion, adafactor, muon (registered in jaforge.train.optim)."""
    lr: Annotated[float, Gt(0)] = 3e-4
    """Peak learning rate (muon: the lr of its AdamW part; see muon_lr)."""
    weight_decay: Annotated[float, Ge(0)] = 0.1
    """Decoupled weight decay for matrices (norms, biases and embeddings get none)."""
    betas: Annotated[list[Annotated[float, Ge(0), Lt(1)]], MinLen(2)] = field(default_factory=lambda: [0.9, 0.95])
    """AdamW/Lion betas (muon uses the first as its momentum)."""
    eps: Annotated[float, Gt(0)] = 1e-8
    """Added to the denominator of AdamW-style updates."""
    muon_lr: Annotated[float, Gt(0)] = 0.02
    """Learning rate of muon's orthogonalised updates of hidden matrices."""
    fused: bool = True
    """Use the fused AdamW kernel where this PyTorch build has one (CUDA, recent CPU builds)."""


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    """cosine, wsd (warmup-stable-decay), linear or constant; each with linear warmup."""
    warmup_steps: Annotated[int, Ge(0)] = 100
    """Steps of linear warmup from lr/warmup_steps to lr."""
    min_lr_ratio: Annotated[float, Ge(0), Le(1)] = 0.1
    """Final learning rate as a fraction of the peak."""
    decay_fraction: Annotated[float, Ge(0), Le(1)] = 0.2
    """wsd: the share of training (at the end) spent decaying."""


@dataclass
class LoopConfig:
    """What every training stage's `trainer` section has: the loop, its device and precision,
    logging, evaluation and checkpoint cadence, and resuming."""

    max_steps: Annotated[int, Ge(1)] = 1000
    """Optimiser steps to train for."""
    batch_size: Annotated[int, Ge(1)] = 32
    """Global batch in sequences per optimiser step (split over processes and micro-batches)."""
    micro_batch_size: Annotated[int, Ge(1)] = 8
    """Sequences per forward/backward on one process; the rest is gradient accumulation."""
    grad_clip: Annotated[float, Ge(0)] = 1.0
    """Clip the global gradient norm to this (0 disables)."""
    device: str = "auto"
    """auto (cuda:<local rank> when CUDA is present, else cpu), cpu, cuda or cuda:N."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: autocast the forward pass to bfloat16 (master weights stay fp32)."""
    param_dtype: Literal["fp32", "bf16"] = "fp32"
    """bf16 (needs precision bf16): keep the model's parameters in bfloat16 and give the optimiser
    fp32 master copies and fp32 state. Under strategy fsdp, precision bf16 already gathers bf16
    parameters from fp32 shards (FSDP2's mixed-precision policy), so this stays fp32 there."""
    compile: bool = False
    """Wrap the model with torch.compile."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass instead of keeping them (less
    memory, about a third more compute)."""
    prefetch: bool = True
    """Prepare the next step's batches on a background thread (pinned memory on CUDA)."""
    strategy: Literal["ddp", "fsdp"] = "ddp"
    """Under torchrun: ddp replicates the model on every process; fsdp shards parameters, gradients
    and optimiser state (FSDP2) for models that do not fit one device."""
    eval_every: Annotated[int, Ge(0)] = 100
    """Evaluate every N steps (and at the last step); 0 disables."""
    log_every: Annotated[int, Ge(1)] = 1
    """Write a metrics row every N steps (the loss is read from the device only then)."""
    checkpoint_every: Annotated[int, Ge(0)] = 100
    """Save a resumable checkpoint every N steps and at the last step (0: at the last step only)."""
    keep_last: Annotated[int, Ge(0)] = 2
    """Checkpoints to keep (older ones are deleted); 0 keeps all."""
    resume: str = "auto"
    """auto: continue from the newest complete checkpoint in output_dir if any; never (start over,
    removing the directory's old checkpoints); or a checkpoint dir."""
    resume_may_change: list[str] = field(default_factory=lambda: list(OPERATIONAL_KEYS))
    """Dotted config keys (and their children) a resumed run may change from the saved config.yaml;
    any other change is refused, naming the keys (trainer.resume and this list may always change)."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of model init, dropout and the objective's noise."""
    peak_flops: Annotated[float, Ge(0)] = 0.0
    """Peak FLOP/s of one device for MFU (0: MFU is not reported)."""
    progress: bool = True
    """Show a progress bar with tokens/s, MFU and ETA."""
    report_to: list[Literal["tensorboard", "wandb"]] = field(default_factory=list)
    """Also log every metrics row to these trackers: tensorboard (event files in
    <output_dir>/tensorboard; extra `tensorboard`) and wandb (Weights & Biases, run files in
    <output_dir>/wandb; extra `wandb`; WANDB_MODE=offline needs no account, WANDB_PROJECT names
    the project, default jaforge)."""
    tensorboard: Optional[bool] = None
    """Removed: use report_to: [tensorboard]. `true` is an error that says so (`false`, as older
    saved configs have it, changes nothing)."""
    threads: Annotated[int, Ge(0)] = 0
    """torch CPU threads per process (0: leave PyTorch's default)."""
    keep_host_memory: bool = True
    """Linux/glibc: keep freed host memory for the next step instead of returning it to the OS
    (saves the page faults of re-allocating activations every step; the process keeps its peak)."""


@dataclass
class TrainerConfig(LoopConfig):
    objective: Literal["causal", "ul2"] = "causal"
    """causal: next-token loss; ul2: a mixture of denoisers (prefix LM, short and long spans)."""
    eval_batches: Annotated[int, Ge(1)] = 4
    """Micro-batches of validation windows per dataset."""
    eval_at_start: Optional[bool] = None
    """Evaluate before the first step (a step-0 metrics row); None: when init_from is set, so a
    continual run's log starts with the base model's validation losses."""
    init_from: Optional[InputPath] = None
    """Continual pretraining: a jaforge checkpoint/model dir or a Hugging Face Llama dir. It fixes
    the architecture: model.* keys set to other values than the base's are an error, except
    dropout, z_loss, moe_aux_loss (taken from this config) and max_seq_len (see context_extension);
    config.yaml records the model actually trained."""
    context_extension: Literal["interpolate", "extend"] = "interpolate"
    """init_from with a model.max_seq_len above the base's (RoPE): interpolate divides positions by
    new/base (linear position interpolation, rope_scale); extend keeps the angles (the model meets
    positions it never saw). A model.max_seq_len equal to the default (1024) counts as unset unless
    the data's windows need more than the base's context."""
    expansion: Optional[InputPath] = None
    """expansion.json of an expanded tokenizer: new embedding rows = mean of their old-subword rows.
    The init_from model must have exactly the expansion's base_vocab_size rows."""
    new_rows_init_scale: Annotated[float, Gt(0)] = 1.0
    """expansion: multiply each new row (embedding and untied output) by this after the mean."""
    new_rows_lr: Optional[Annotated[float, Gt(0)]] = None
    """expansion: peak learning rate of the new embedding/output rows (the schedule scales it like
    optim.lr); None: optim.lr."""
    freeze_old_rows_steps: Annotated[int, Ge(0)] = 0
    """expansion: the base's embedding/output rows stay unchanged for this many first steps (the
    rest of the model trains)."""


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    """The decoder (jaforge.model.ModelConfig); vocab_size must cover the token data."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output_dir: str = "runs/pretrain"
    """Run directory: checkpoints/, metrics.jsonl, metrics.csv, config.yaml, final model/."""
