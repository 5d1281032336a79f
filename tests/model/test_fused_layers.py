"""The hand-written backwards (RMSNorm, rotary rotation, cross-entropy) give autograd's gradients
of the plain formulas, and the compiled path (which uses the plain formulas) gives the same model."""

from __future__ import annotations

import pytest

from .tiny_models import randomize, tiny, torch

import torch.nn.functional as F  # noqa: E402

from jaforge.model import Transformer  # noqa: E402
from jaforge.model.layers.norms import RMSNorm, RMSNormFunction  # noqa: E402
from jaforge.model.layers.positions import Rotation, rotate_concat, rotate_pairs  # noqa: E402


def _rms_norm_reference(x, weight, eps):
    return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def test_rms_norm_backward_passes_gradcheck():
    x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    weight = (torch.rand(8, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, w: RMSNormFunction.apply(a, w, 1e-5), (x, weight))


def test_rms_norm_matches_autograd_of_the_plain_formula():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 16, requires_grad=True)
    norm = RMSNorm(16)
    norm.weight.data.uniform_(0.5, 1.5)
    grad = torch.randn(4, 5, 16)
    ours = norm(x)
    ours_grads = torch.autograd.grad(ours, (x, norm.weight), grad)
    ref = _rms_norm_reference(x, norm.weight, norm.eps)
    ref_grads = torch.autograd.grad(ref, (x, norm.weight), grad)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    for a, b in zip(ours_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_rms_norm_under_bf16_autocast_keeps_the_llama_dtypes():
    x = torch.randn(2, 3, 8).bfloat16().requires_grad_()
    norm = RMSNorm(8)
    out = norm(x)
    assert out.dtype == torch.float32   # fp32 weight × bf16 normed, as in the Llama reference
    out.sum().backward()
    assert x.grad.dtype == torch.bfloat16 and norm.weight.grad.dtype == torch.float32
    torch.testing.assert_close(out, _rms_norm_reference(x.detach(), norm.weight.detach(), norm.eps))


def _angles(seq_len: int, half: int, dtype=torch.float32):
    angles = torch.outer(torch.arange(seq_len, dtype=dtype), torch.rand(half, dtype=dtype))[:, None, :]
    return angles.cos(), angles.sin()


def test_rotation_backward_is_the_inverse_rotation():
    q = torch.randn(2, 5, 3, 8, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 5, 1, 8, dtype=torch.float64, requires_grad=True)
    cos, sin = _angles(5, 4, torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: Rotation.apply(a, b, cos, sin), (q, k))


def test_rotation_equals_the_concatenated_formula():
    x = torch.randn(2, 5, 3, 8)
    cos, sin = _angles(5, 4)
    torch.testing.assert_close(rotate_pairs(x, cos, sin), rotate_concat(x, cos, sin), rtol=0, atol=1e-6)
    # per-row positions ([batch, seq, 1, half] tables) broadcast the same way
    cos_b, sin_b = cos[None].expand(2, -1, -1, -1), sin[None].expand(2, -1, -1, -1)
    torch.testing.assert_close(rotate_pairs(x, cos_b, sin_b), rotate_concat(x, cos, sin), rtol=0, atol=1e-6)


def test_compiled_model_matches_eager_losses_and_gradients():
    cfg = tiny()
    torch.manual_seed(0)
    model = Transformer(cfg)
    randomize(model)
    ids = torch.randint(0, cfg.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    eager = model(ids, labels=ids).loss
    eager_grads = torch.autograd.grad(eager, list(model.parameters()))
    compiled = torch.compile(model)(ids, labels=ids).loss
    compiled_grads = torch.autograd.grad(compiled, list(model.parameters()))
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
    for a, b in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _targets(n, vocab, ignored):
    targets = torch.randint(0, vocab, (n,))
    targets[ignored] = -100
    return targets


def test_cross_entropy_matches_torch_value_and_gradient_with_ignored_targets():
    from jaforge.model.loss import cross_entropy

    torch.manual_seed(0)
    logits = torch.randn(12, 30, dtype=torch.float64)
    targets = _targets(12, 30, [0, 5, 6])
    ours_in, ref_in = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ours = cross_entropy(ours_in, targets)
    ref = F.cross_entropy(ref_in, targets, ignore_index=-100)
    (ours * 3.0).backward()
    (ref * 3.0).backward()
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=0, atol=1e-12)
    assert ours_in.grad[0].abs().sum() == 0  # ignored rows get no gradient


def test_cross_entropy_refuses_a_second_backward_through_its_overwritten_buffer():
    from jaforge.model.loss import CrossEntropyFunction

    logits = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    targets = _targets(5, 7, [2])
    loss = CrossEntropyFunction.apply(logits, targets)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_cross_entropy_of_all_ignored_targets_is_nan_like_torch():
    from jaforge.model.loss import cross_entropy

    logits = torch.randn(3, 4, requires_grad=True)
    targets = torch.full((3,), -100)
    assert torch.isnan(cross_entropy(logits, targets))
    assert torch.isnan(F.cross_entropy(logits, targets, ignore_index=-100))
