"""What a pretrain run will cost, from its config alone: parameters, tokens, FLOPs and memory per GPU
(for `jaforge run --dry-run` plans; nothing is built or allocated).

    estimate(cfg, gpus=64)    # {"params": …, "tokens": …, "train_flops": …, "memory_per_gpu_gb": …}

Memory per GPU is the training state plus activations. State per parameter: the weights and their
gradients (2 bytes each in bf16 parameters, else 4), fp32 master weights with bf16 parameters (4)
and AdamW's two fp32 moments (8); DDP keeps all of it on every GPU, FSDP splits it over `gpus`.
Activations follow Korthikanti et al. (2022) for a transformer layer with flash attention:
about 34 bytes per token per hidden unit per layer in 16-bit, 2 with activation checkpointing
(only each block's input is kept), for one micro-batch. An estimate for planning, not a promise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jaforge.errors import JaforgeError
from jaforge.model import count_params, estimate_flops
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import trained_model_config

GB = 1e9


def state_bytes_per_param(cfg: PretrainConfig) -> int:
    bf16_params = cfg.trainer.param_dtype == "bf16"
    weights_and_grads = 2 * (2 if bf16_params else 4)
    return weights_and_grads + (4 if bf16_params else 0) + 8


def activation_bytes(cfg: PretrainConfig) -> float:
    per_unit = 2 if cfg.trainer.activation_checkpointing else (34 if cfg.trainer.precision == "bf16" else 68)
    tokens = cfg.trainer.micro_batch_size * cfg.data.seq_len
    return tokens * cfg.model.d_model * cfg.model.n_layer * per_unit


def estimate(cfg: PretrainConfig, gpus: int = 1) -> dict[str, Any]:
    """Parameters, training tokens and FLOPs, and memory per GPU on `gpus` GPUs (continual
    pretraining: of the base's architecture, once the base exists)."""
    if not all(isinstance(v, int) for v in (cfg.model.vocab_size, cfg.trainer.max_steps, cfg.data.seq_len)):
        return {}  # a value another stage of the pipeline will provide
    if cfg.trainer.init_from:
        try:
            cfg = replace(cfg, model=trained_model_config(cfg))
        except (JaforgeError, OSError):
            return {}  # the base (or its expansion) is another stage's output, not made yet
    params = count_params(cfg.model)
    tokens = cfg.trainer.max_steps * cfg.trainer.batch_size * cfg.data.seq_len
    flops = estimate_flops(cfg.model, cfg.data.seq_len)["train_per_token"] * tokens
    shards = gpus if cfg.trainer.strategy == "fsdp" else 1
    state = params["total"] * state_bytes_per_param(cfg) / shards
    return {"params": params["total"], "tokens": tokens, "train_flops": float(flops),
            "gpus": gpus, "memory_per_gpu_gb": round((state + activation_bytes(cfg)) / GB, 2)}
