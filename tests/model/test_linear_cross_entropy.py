"""The fused output head + loss (`return_logits=False`) gives the plain path's losses and
gradients, with z-loss, ignored targets, tied embeddings, MoE and chunks smaller than a batch."""

from __future__ import annotations

import pytest

from .tiny_models import randomize, tiny, torch

import torch.nn.functional as F  # noqa: E402

from jaforge.model import Transformer  # noqa: E402
from jaforge.model.loss import linear_cross_entropy  # noqa: E402


def test_linear_cross_entropy_passes_gradcheck_with_z_loss():
    torch.manual_seed(0)
    hidden = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([1, 4, -100, 10, 0, -100, 3])
    # the loss is computed in float32 inside, so gradcheck runs with float32's tolerance
    assert torch.autograd.gradcheck(lambda h, w: linear_cross_entropy(h, w, targets, 1e-2, chunk_rows=3)[0],
                                    (hidden, weight), eps=1e-3, atol=1e-3, rtol=1e-3)


def test_linear_cross_entropy_matches_the_plain_head():
    torch.manual_seed(1)
    hidden = torch.randn(40, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (40,))
    targets[::7] = -100
    loss, z = linear_cross_entropy(hidden, weight, targets, 1e-3, chunk_rows=9)
    logits = hidden @ weight.t()
    keep = targets != -100
    ref_z = 1e-3 * logits[keep].logsumexp(-1).square().mean()
    ref = F.cross_entropy(logits, targets, ignore_index=-100) + ref_z
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(z, ref_z)
    ours = torch.autograd.grad(loss * 3, (hidden, weight))
    theirs = torch.autograd.grad(ref * 3, (hidden, weight))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("switches", [{}, {"z_loss": 1e-3}, {"tie_embeddings": True},
                                      {"moe_experts": 4, "moe_top_k": 2}])
def test_the_fused_model_loss_gives_the_plain_losses_and_gradients(switches):
    model = Transformer(tiny(**switches))
    randomize(model)
    ids = torch.randint(0, 64, (3, 17), generator=torch.Generator().manual_seed(2))
    labels = ids.clone()
    labels[0, :5] = -100
    plain = model(ids, labels=labels)
    plain_grads = torch.autograd.grad(plain.loss, list(model.parameters()))
    fused = model(ids, labels=labels, return_logits=False)
    fused_grads = torch.autograd.grad(fused.loss, list(model.parameters()))
    assert fused.logits is None
    for name in ("loss", "aux_loss", "ce_loss"):
        torch.testing.assert_close(getattr(fused, name), getattr(plain, name).detach())
    for (name, _), a, b in zip(model.named_parameters(), fused_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_the_fused_loss_is_used_without_gradients_too():
    model = Transformer(tiny())
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        fused = model(ids, labels=ids, return_logits=False)
        plain = model(ids, labels=ids)
    assert fused.logits is None
    torch.testing.assert_close(fused.ce_loss, plain.ce_loss)


def test_a_frozen_head_gets_no_weight_gradient_and_the_same_hidden_gradient():
    torch.manual_seed(3)
    hidden = torch.randn(20, 8, requires_grad=True)
    weight = torch.randn(30, 8)  # frozen, as the tied embedding under LoRA
    targets = torch.randint(0, 30, (20,))
    loss, _ = linear_cross_entropy(hidden, weight, targets, chunk_rows=6)
    (ours,) = torch.autograd.grad(loss, hidden)
    (theirs,) = torch.autograd.grad(F.cross_entropy(hidden @ weight.t(), targets), hidden)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    trainable = weight.clone().requires_grad_()
    _, grad_weight = torch.autograd.grad(linear_cross_entropy(hidden, trainable, targets)[0], (hidden, trainable))
    assert grad_weight.abs().sum() > 0


def test_chunks_are_small_on_the_cpu_and_fill_a_fixed_buffer_on_an_accelerator():
    from jaforge.model.loss import default_chunk_rows

    assert default_chunk_rows("cpu", 32000) == 256
    assert default_chunk_rows("cuda", 32000) == 2097       # 2**26 floats: a 256 MB float32 buffer
    assert default_chunk_rows("cuda", 1_000_000) == 256    # never below the CPU's chunk
