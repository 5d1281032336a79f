"""Optimisers by name: adamw (fused where available), lion, adafactor, muon.

    optimizer = build_optimizer(model, OptimConfig(name="lion", lr=1e-4))

Weight decay applies only where `model.param_groups(weight_decay)` says (no decay on norms, biases,
embeddings). Each optimiser is one registered function `(named_groups, cfg) -> torch.optim.Optimizer`;
unknown names fail with the known list and a did-you-mean.
"""

from __future__ import annotations

from typing import Callable

import torch

from jaforge.registry import Registry
from jaforge.train.config import OptimConfig

OPTIMIZERS: Registry[Callable] = Registry("optimizer")

# Parameters Muon must leave to AdamW: embeddings and the output projection (Keller Jordan's recipe).
NOT_HIDDEN = ("emb", "wte", "wpe", "lm_head", "output")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """The model's own decay/no-decay groups, or by rank (matrices decay) for a plain module."""
    if hasattr(model, "param_groups"):
        return model.param_groups(weight_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig,
                    masters: dict[int, torch.Tensor] | None = None) -> torch.optim.Optimizer:
    """The optimiser named in `cfg` over the model's weight-decay groups; with `masters` (id of a
    parameter → its fp32 master copy) it steps the masters instead."""
    build = OPTIMIZERS.get(cfg.name)
    swap = (lambda p: masters.get(id(p), p)) if masters else (lambda p: p)
    groups = [{**g, "params": [swap(p) for p in g["params"]]}
              for g in param_groups(model, cfg.weight_decay) if g["params"]]
    if cfg.name == "muon":
        inside = hidden_matrices(model)
        optimizer = build(groups, cfg, {id(swap(p)) for p in model.parameters() if id(p) in inside})
    else:
        optimizer = build(groups, cfg)
    for group in optimizer.param_groups:  # the schedule scales from here; saved states carry it
        group.setdefault("initial_lr", group["lr"])
    return optimizer


def hidden_matrices(model: torch.nn.Module) -> set[int]:
    """ids of the 2-D weights inside the blocks (not embeddings nor the output head)."""
    return {id(p) for name, p in model.named_parameters()
            if p.ndim == 2 and not any(part in name for part in NOT_HIDDEN)}


@OPTIMIZERS.register("adamw")
def adamw(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if cfg.fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError):
            pass  # this build/device has no fused kernel: fall back to the foreach one
    return torch.optim.AdamW(groups, **kwargs)


@OPTIMIZERS.register("adafactor")
def adafactor(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adafactor(groups, lr=cfg.lr)


@OPTIMIZERS.register("lion")
def lion(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    return Lion(groups, lr=cfg.lr, betas=tuple(cfg.betas))


@OPTIMIZERS.register("muon")
def muon(groups: list[dict], cfg: OptimConfig, hidden: set[int] | None = None) -> torch.optim.Optimizer:
    hidden = hidden if hidden is not None else {id(p) for g in groups for p in g["params"] if p.ndim == 2}
    split = []
    for g in groups:
        matrices = [p for p in g["params"] if id(p) in hidden]
        others = [p for p in g["params"] if id(p) not in hidden]
        if matrices:
            split.append({**g, "params": matrices, "use_muon": True, "lr": cfg.muon_lr})
        if others:
            split.append({**g, "params": others, "use_muon": False, "lr": cfg.lr})
    return Muon(split, lr=cfg.lr, momentum=cfg.betas[0], betas=tuple(cfg.betas), eps=cfg.eps)


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023): the sign of an interpolated momentum, decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                update = m.mul(beta1).add_(p.grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def newton_schulz_orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """An approximately orthogonal matrix with g's singular vectors (quintic Newton–Schulz)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.float()
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return (x.T if transposed else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for hidden matrices (momentum, then Newton–Schulz orthogonalisation); AdamW for the rest."""

    def __init__(self, params, lr: float = 3e-4, momentum: float = 0.95, betas=(0.9, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        defaults = dict(lr=lr, momentum=momentum, betas=betas, eps=eps,
                        weight_decay=weight_decay, use_muon=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - group["lr"] * group["weight_decay"])
                if group["use_muon"]:
                    self._muon_update(p, group)
                else:
                    self._adamw_update(p, group)
        return loss

    def _muon_update(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        buf.mul_(group["momentum"]).add_(p.grad)
        nesterov = p.grad.add(buf, alpha=group["momentum"])
        update = newton_schulz_orthogonalize(nesterov)
        scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
        p.add_(update, alpha=-group["lr"] * scale)

    def _adamw_update(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(p.grad, 1 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        m_hat = m / (1 - beta1 ** state["step"])
        v_hat = v / (1 - beta2 ** state["step"])
        p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])
