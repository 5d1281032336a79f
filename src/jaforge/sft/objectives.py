"""The sft stage's losses: token cross-entropy over the target tokens of a whole optimiser step,
and DPO on preference pairs against a frozen reference model.

    loss = token_loss(model, batch, n_targets)           # summed NLL / targets in the whole step
    loss, stats = dpo_loss(model, reference, pair_batch(chosen, rejected), beta=0.1)

Dividing summed losses by the step's target count (not each micro-batch's mean) makes gradient
accumulation give the same update as one big batch, as Hugging Face's Trainer does with
`num_items_in_batch`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from jaforge.model.loss import default_chunk_rows, linear_cross_entropy
from jaforge.sft.encoding import IGNORE_INDEX


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """labels[:, t + 1] is the target of position t (−100 after the last position)."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-position negative log-likelihood [B, T] (0 where there is no target)."""
    targets = shifted_targets(labels)
    nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                          ignore_index=IGNORE_INDEX, reduction="none")
    return nll.view(targets.shape)


def forward(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return model(batch["input_ids"], position_ids=batch.get("position_ids"),
                 segment_ids=batch.get("segment_ids")).logits


def target_positions(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The flat indices of the positions that have a target, and those targets: taken on the host
    with the batch, so that selecting them on a GPU needs no device-to-host sync."""
    targets = shifted_targets(labels).reshape(-1)
    positions = torch.nonzero(targets != IGNORE_INDEX).squeeze(1)
    return {"target_positions": positions, "target_ids": targets[positions]}


def token_loss(model: torch.nn.Module, batch: dict, n_targets: int) -> torch.Tensor:
    """The batch's summed target NLL over the step's `n_targets`. Given `target_positions`, the
    output head runs at those positions only: prompt and padding positions cost no head work."""
    if "target_positions" not in batch:
        return token_nll(forward(model, batch), batch["labels"]).sum() / max(1, n_targets)
    return head_nll_sum(model, _target_hidden(model, batch), batch["target_ids"]) / max(1, n_targets)


def _target_hidden(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """The final hidden states [N, d] at the batch's `target_positions` (flat, row-major)."""
    hidden = model(batch["input_ids"], position_ids=batch.get("position_ids"),
                   segment_ids=batch.get("segment_ids"), return_hidden=True).hidden
    return hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch["target_positions"])


def head_nll_sum(model: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Σ −log p(target) of the output head over `hidden` [N, d] (every row has a target)."""
    if targets.numel() == 0:
        return hidden.sum() * 0.0  # a micro-batch without targets still joins the graph
    if model.can_fuse_head():
        mean, _ = linear_cross_entropy(hidden, model.lm_head.weight, targets)
        return mean * targets.numel()
    return F.cross_entropy(model.lm_head(hidden).float(), targets, reduction="sum")


def count_targets(labels: torch.Tensor) -> int:
    return int((shifted_targets(labels) != IGNORE_INDEX).sum())


def response_logprobs(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Summed log-probability of each row's target tokens [B]. The output head runs at the
    target positions only, and without a gradient in chunks of `default_chunk_rows` positions: a
    held-out batch's full [B, T, V] logits at a 16k vocabulary were the run's largest allocation."""
    if "target_positions" not in batch:
        batch = {**batch, **target_positions(batch["labels"])}
    hidden, targets = _target_hidden(model, batch), batch["target_ids"]
    size = max(1, len(targets)) if torch.is_grad_enabled() else \
        default_chunk_rows(hidden.device.type, model.config.vocab_size)
    chunks = [F.cross_entropy(model.lm_head(hidden[i:i + size]).float(), targets[i:i + size], reduction="none")
              for i in range(0, len(targets), size)]
    nll = torch.cat(chunks) if chunks else hidden.sum(dim=1).float() * 0.0  # no targets: still in the graph
    rows = batch["target_positions"] // batch["input_ids"].shape[1]
    return -nll.new_zeros(len(batch["input_ids"])).index_add(0, rows, nll)


def pair_batch(chosen: dict, rejected: dict) -> dict:
    """Chosen rows then rejected rows as one batch, padded to one width (one forward for both)."""
    width = max(chosen["input_ids"].shape[1], rejected["input_ids"].shape[1])
    return {k: torch.cat([_pad(chosen[k], width, k), _pad(rejected[k], width, k)])
            for k in ("input_ids", "labels")}


def dpo_loss(model: torch.nn.Module, reference: Callable[[dict], torch.Tensor],
             both: dict, beta: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean DPO loss −log σ(β·[(π_c − ref_c) − (π_r − ref_r)]) of the pairs in `both` (a
    `pair_batch`: n chosen rows, then their n rejected rows), and its statistics as tensors.

    `reference(batch)` gives the frozen reference model's summed response log-probabilities."""
    n = both["input_ids"].shape[0] // 2
    policy = response_logprobs(model, both)
    with torch.no_grad():
        ref = reference(both)
    margin = (policy[:n] - ref[:n]) - (policy[n:] - ref[n:])
    loss = -F.logsigmoid(beta * margin).mean()
    stats = {"reward_accuracy": (margin.detach() > 0).float().mean(),
             "reward_margin": beta * margin.detach().mean()}
    return loss, stats


def _pad(t: torch.Tensor, width: int, key: str) -> torch.Tensor:
    fill = IGNORE_INDEX if key == "labels" else 0
    return F.pad(t, (0, width - t.shape[1]), value=fill)
