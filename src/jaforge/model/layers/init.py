"""Weight-initialisation schemes, registered by name; each gives the standard deviation of a
weight matrix from its role. Biases start at zero, norm gains at one. A module whose parameters
need other values (a recurrence's decay rates) sets them in its `init_own_parameters()`, called
after the scheme.

    normal   every matrix N(0, init_std)
    scaled   as normal; residual output projections (o_proj, down_proj) init_std/√(2·n_layer) (GPT-2)
    small    small-init √(2/(5·d_model)) (Nguyen & Salazar 2019); output projections
             2/(n_layer·√d_model) (Wang 2021, as in GPT-NeoX)
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from jaforge.model.config import ModelConfig
from jaforge.registry import Registry

INITS: Registry[Callable[[ModelConfig, bool], float]] = Registry("init scheme")
RESIDUAL_OUTPUTS = ("o_proj.weight", "down_proj.weight")


@INITS.register("normal")
def normal_std(cfg: ModelConfig, residual_output: bool) -> float:
    return cfg.init_std


@INITS.register("scaled")
def scaled_std(cfg: ModelConfig, residual_output: bool) -> float:
    return cfg.init_std / math.sqrt(2 * cfg.n_layer) if residual_output else cfg.init_std


@INITS.register("small")
def small_std(cfg: ModelConfig, residual_output: bool) -> float:
    if residual_output:
        return 2 / (cfg.n_layer * math.sqrt(cfg.d_model))
    return math.sqrt(2 / (5 * cfg.d_model))


@torch.no_grad()
def init_weights(model: nn.Module, cfg: ModelConfig) -> None:
    """Initialise every parameter of `model` in order (deterministic under torch's RNG).

    Shared (tied) parameters are visited once, under their first name."""
    std_of = INITS.get(cfg.init)
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            param.zero_()
        elif param.ndim == 1:
            param.fill_(1.0)
        else:
            param.normal_(0.0, std_of(cfg, name.endswith(RESIDUAL_OUTPUTS)))
    for module in model.modules():
        if hasattr(module, "init_own_parameters"):
            module.init_own_parameters()
