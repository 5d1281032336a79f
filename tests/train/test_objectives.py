"""Objectives: causal LM uses the window as is; UL2 denoisers keep the length, hide the loss on the
input part, and put every dropped span after its sentinel."""

import numpy as np
import torch

from jaforge.train.objectives import (IGNORE_INDEX, prefix_lm, random_partition, span_corruption,
                                      training_inputs)

VOCAB = 1000


def test_causal_labels_are_the_inputs():
    w = torch.arange(12).view(2, 6)
    x, y = training_inputs(w, "causal", 0, 0, 0, VOCAB)
    assert torch.equal(x, w) and torch.equal(y, w)


def test_prefix_lm_hides_the_loss_on_a_prefix():
    window = np.arange(100)
    x, y = prefix_lm(window, np.random.default_rng(0))
    prefix = int((y == IGNORE_INDEX).sum())
    assert 25 <= prefix <= 75 and (x == window).all() and (y[prefix:] == window[prefix:]).all()


def test_span_corruption_round_trips_to_the_source():
    window = np.arange(10, 139)
    x, y = span_corruption(window, np.random.default_rng(1), 0.15, 3, VOCAB)
    assert len(x) == len(window)
    inputs = [int(t) for t, lab in zip(x, y) if lab == IGNORE_INDEX]
    targets = [int(t) for t, lab in zip(x, y) if lab != IGNORE_INDEX]
    spans, current = {}, None
    for t in targets:
        if t >= VOCAB - 64:
            current = t
            spans[current] = []
        else:
            spans[current].append(t)
    restored = []
    for t in inputs:
        restored += spans[t] if t in spans else [t]
    assert restored == list(window[:len(restored)])  # the corrupted text + spans = the source
    noise = sum(len(s) for s in spans.values())
    assert 0.1 < noise / len(restored) < 0.2


def test_ul2_rows_are_reproducible_from_seed_step_and_row():
    w = torch.arange(2 * 65).view(2, 65) % 500
    a = training_inputs(w, "ul2", 3, 7, 10, VOCAB)
    b = training_inputs(w, "ul2", 3, 7, 10, VOCAB)
    c = training_inputs(w, "ul2", 3, 8, 10, VOCAB)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


def test_random_partition_sums_and_is_positive():
    parts = random_partition(50, 7, np.random.default_rng(2))
    assert parts.sum() == 50 and len(parts) == 7 and parts.min() >= 1
