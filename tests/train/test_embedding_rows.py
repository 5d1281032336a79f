"""Per-row learning rates: scaling a step's change of some rows is exactly the optimiser's step at
that multiple of the learning rate (AdamW with decoupled weight decay, Lion), and factor 0 freezes."""

import pytest
import torch

from jaforge.model import ModelConfig, Transformer
from jaforge.train.embedding_rows import RowRates
from jaforge.train.optim import Lion

torch.set_num_threads(1)
BASE = 12


def tiny(tied: bool) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=16, n_layer=1, d_model=8, n_head=2, tie_embeddings=tied))


def steps(model, optimizer, rates=None, n=3) -> None:
    for step in range(n):
        torch.manual_seed(100 + step)
        ids = torch.randint(0, 16, (2, 6))
        model(ids, labels=ids).loss.backward()
        if rates is None:
            optimizer.step()
        else:
            with rates.around(step, lambda p: p):
                optimizer.step()
        optimizer.zero_grad()


@pytest.mark.parametrize("make", [lambda ps, lr: torch.optim.AdamW(ps, lr=lr, weight_decay=0.1),
                                  lambda ps, lr: Lion(ps, lr=lr, weight_decay=0.1)], ids=["adamw", "lion"])
@pytest.mark.parametrize("tied", [True, False])
def test_new_rows_move_as_at_their_own_learning_rate(make, tied):
    """One step from the same weights (so the same gradients): the new rows as at 3× the learning
    rate, the old rows as at 1×."""
    scaled = tiny(tied)
    steps(scaled, make(scaled.parameters(), 1e-2), RowRates(scaled, BASE, new_ratio=3.0, freeze_steps=0), n=1)
    reference = tiny(tied)
    steps(reference, make(reference.parameters(), 3e-2), n=1)
    plain = tiny(tied)
    steps(plain, make(plain.parameters(), 1e-2), n=1)
    for table in ("tok_embeddings", "lm_head"):
        got = getattr(scaled, table).weight
        assert torch.allclose(got[BASE:], getattr(reference, table).weight[BASE:], atol=1e-6)
        assert torch.allclose(got[:BASE], getattr(plain, table).weight[:BASE], atol=1e-6)


def test_old_rows_are_frozen_for_the_first_steps_only():
    model = tiny(True)
    start = model.tok_embeddings.weight.detach().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rates = RowRates(model, BASE, new_ratio=1.0, freeze_steps=2)
    steps(model, optimizer, rates, n=2)
    assert torch.equal(model.tok_embeddings.weight[:BASE], start[:BASE])
    assert not torch.equal(model.tok_embeddings.weight[BASE:], start[BASE:])
    with rates.around(2, lambda p: p):  # step 2: the old rows train again
        model.tok_embeddings.weight.data.add_(1.0)
    assert not torch.equal(model.tok_embeddings.weight[:BASE], start[:BASE])
    assert not RowRates(model, BASE, 1.0, 0).active
