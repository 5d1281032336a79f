"""Training objectives: what the model reads and predicts from a batch of token windows.

- `causal`: next-token prediction over the whole window (labels = inputs; the model shifts them).
- `ul2`: a mixture of denoisers (Tay et al. 2022, UL2) in decoder-only form. Each window becomes one
  of: S (prefix LM: loss only after a random prefix), R (regular span corruption: 15% noise in spans
  of mean length 3) or X (extreme: 50% noise in spans of mean length 32). For R and X the corrupted
  text, spans replaced by sentinel tokens, is followed by each sentinel and its span; the loss is
  on that target part only. Sentinels are the top `UL2_SENTINELS` ids of the model's vocabulary, so
  model.vocab_size must leave that many rows above the tokenizer's vocabulary.

The noise of row r at step s is drawn from a generator seeded by (seed, step, r): the same row gets
the same corruption on 1 or N processes and after a resume.
"""

from __future__ import annotations

import numpy as np
import torch

IGNORE_INDEX = -100
UL2_SENTINELS = 64
# (name, noise rate, mean span length); rate 0 marks the prefix-LM denoiser
UL2_DENOISERS = (("S", 0.0, 0), ("R", 0.15, 3), ("X", 0.5, 32))


def training_inputs(windows: torch.Tensor, objective: str, seed: int, step: int, first_row: int,
                    vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, labels) for a micro-batch whose first row is global row `first_row` of the step."""
    if objective == "causal":
        return windows, windows
    if objective == "ul2":
        rows = [ul2_row(w.cpu().numpy(), np.random.default_rng([seed, step, first_row + i]), vocab_size)
                for i, w in enumerate(windows)]
        inputs = torch.from_numpy(np.stack([r[0] for r in rows])).to(windows.device)
        labels = torch.from_numpy(np.stack([r[1] for r in rows])).to(windows.device)
        return inputs, labels
    raise ValueError(f"unknown objective '{objective}'; known: causal, ul2")


def ul2_row(window: np.ndarray, rng: np.random.Generator, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One window turned into a denoising example of the same length."""
    name, rate, mean_span = UL2_DENOISERS[rng.integers(len(UL2_DENOISERS))]
    if rate == 0.0:
        return prefix_lm(window, rng)
    return span_corruption(window, rng, rate, mean_span, vocab_size)


def prefix_lm(window: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(window)
    prefix = int(rng.integers(n // 4, 3 * n // 4 + 1))
    labels = window.copy()
    labels[:prefix] = IGNORE_INDEX
    return window.copy(), labels


def random_partition(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """`parts` positive integers summing to `total` (uniformly random cut points)."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else []
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(np.int64)


def span_corruption(window: np.ndarray, rng: np.random.Generator, rate: float, mean_span: int,
                    vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Corrupted text with sentinels, then `sentinel span` pairs; loss on the pairs only."""
    n = len(window)
    spans = max(1, min(UL2_SENTINELS, round(n * rate / mean_span)))
    source = n - 2 * spans  # every span adds one sentinel to the input and one to the targets
    noise = max(spans, round(source * rate))
    noise_lengths = random_partition(noise, spans, rng)
    keep_lengths = random_partition(source - noise, spans, rng)
    inputs, targets, pos = [], [], 0
    for i, (keep, drop) in enumerate(zip(keep_lengths, noise_lengths)):
        sentinel = vocab_size - 1 - i
        inputs += list(window[pos:pos + keep]) + [sentinel]
        targets += [sentinel] + list(window[pos + keep:pos + keep + drop])
        pos += keep + drop
    sequence = np.asarray(inputs + targets, dtype=np.int64)
    labels = sequence.copy()
    labels[:len(inputs)] = IGNORE_INDEX
    return sequence, labels
