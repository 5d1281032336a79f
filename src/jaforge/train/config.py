"""The pretrain stage's config: data mixture, model, optimiser, schedule, trainer loop, output dir.

    jaforge pretrain --config recipes/pretrain-tiny.yaml --trainer.max_steps 200

Every field is documented in place (`jaforge pretrain --help` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from jaforge.model import ModelConfig


@dataclass
class DatasetConfig:
    name: str = "ja"
    """Name used by mixture phases and in per-dataset validation metrics."""
    path: str = "runs/tokens"
    """A `jaforge tokenize-data` output directory (train.bin, train.idx.npy, val.*, meta.json)."""
    weight: float = 1.0
    """Sampling weight when no mixture phases are given."""


@dataclass
class MixturePhase:
    steps: int = 0
    """Optimiser steps this phase lasts; the last phase runs to the end of training."""
    weights: dict[str, float] = field(default_factory=dict)
    """Sampling weight per dataset name (missing names get 0), e.g. `{en: 0.7, code: 0.3}`."""
    seq_len: int = 0
    """Sequence length in this phase (a short→long curriculum); 0: data.seq_len, the longest."""


@dataclass
class DataConfig:
    datasets: list[DatasetConfig] = field(default_factory=lambda: [DatasetConfig()])
    """Token datasets to draw training windows from."""
    phases: list[MixturePhase] = field(default_factory=list)
    """Mixture stages in order (e.g. English+code first, then Japanese); empty: dataset weights."""
    seq_len: int = 256
    """Tokens per training sequence (windows of seq_len + 1 tokens give inputs and targets)."""
    seed: int = 0
    """Seed of the data order; the order depends only on this seed and the step."""


@dataclass
class OptimConfig:
    name: str = "adamw"
    """Optimiser: adamw, lion, adafactor, muon (registered in jaforge.train.optim)."""
    lr: float = 3e-4
    """Peak learning rate (muon: the lr of its AdamW part; see muon_lr)."""
    weight_decay: float = 0.1
    """Decoupled weight decay for matrices (norms, biases and embeddings get none)."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    """AdamW/Lion betas (muon uses the first as its momentum)."""
    eps: float = 1e-8
    muon_lr: float = 0.02
    """Learning rate of muon's orthogonalised updates of hidden matrices."""
    fused: bool = True
    """Use the fused AdamW kernel where this PyTorch build has one."""


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    """cosine, wsd (warmup-stable-decay), linear or constant; each with linear warmup."""
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of the peak."""
    decay_fraction: float = 0.2
    """wsd: the share of training (at the end) spent decaying."""


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    """Optimiser steps to train for."""
    batch_size: int = 32
    """Global batch in sequences per optimiser step (split over processes and micro-batches)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward on one process; the rest is gradient accumulation."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 disables)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: autocast the forward pass to bfloat16 (master weights stay fp32)."""
    compile: bool = False
    """Wrap the model with torch.compile."""
    strategy: Literal["ddp", "fsdp"] = "ddp"
    """Under torchrun: ddp replicates the model on every process; fsdp shards parameters, gradients
    and optimiser state (FSDP2) for models that do not fit one device."""
    objective: Literal["causal", "ul2"] = "causal"
    """causal: next-token loss; ul2: a mixture of denoisers (prefix LM, short and long spans)."""
    eval_every: int = 100
    """Validation loss every N steps (and at the last step); 0 disables."""
    eval_batches: int = 4
    """Micro-batches of validation windows per dataset."""
    log_every: int = 1
    """Write a metrics row every N steps."""
    checkpoint_every: int = 100
    """Save a resumable checkpoint every N steps (and at the last step)."""
    keep_last: int = 2
    """Checkpoints to keep (older ones are deleted)."""
    resume: str = "auto"
    """auto: continue from the newest checkpoint in output_dir if any; never; or a checkpoint dir."""
    init_from: Optional[str] = None
    """Continual pretraining: a jaforge checkpoint/model dir or a Hugging Face Llama dir."""
    expansion: Optional[str] = None
    """expansion.json of an expanded tokenizer: new embedding rows = mean of their old-subword rows."""
    seed: int = 0
    """Seed of model init, dropout and the UL2 noise."""
    peak_flops: float = 0.0
    """Peak FLOP/s of one device for MFU (0: MFU is not reported)."""
    progress: bool = True
    """Show a progress bar with tokens/s, MFU and ETA."""
    tensorboard: bool = False
    """Also write TensorBoard scalars (needs the `tensorboard` package)."""
    threads: int = 0
    """torch CPU threads per process (0: leave PyTorch's default)."""
    keep_host_memory: bool = True
    """Linux/glibc: keep freed host memory for the next step instead of returning it to the OS
    (saves the page faults of re-allocating activations every step; the process keeps its peak)."""


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
