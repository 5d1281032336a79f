"""sft's token loss runs the output head at the target positions only and gives the loss and
gradients of the full-logits path: fused or plain head, LoRA (frozen head) or full tuning."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from jaforge.model import Transformer  # noqa: E402
from jaforge.model.config import ModelConfig  # noqa: E402
from jaforge.sft.encoding import IGNORE_INDEX  # noqa: E402
from jaforge.sft import objectives  # noqa: E402
from jaforge.sft.objectives import response_logprobs, shifted_targets, target_positions, token_loss  # noqa: E402


def batch_with_prompts() -> dict:
    ids = torch.randint(1, 97, (3, 19), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :8] = IGNORE_INDEX     # prompts
    labels[1, 13:] = IGNORE_INDEX    # padding
    return {"input_ids": ids, "labels": labels}


def gradients(model: Transformer, batch: dict, n_targets: int) -> tuple[torch.Tensor, list]:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = token_loss(model, batch, n_targets)
    return loss.detach(), torch.autograd.grad(loss, params)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("frozen_head", [True, False])
def test_the_head_at_target_positions_gives_the_full_logits_loss(monkeypatch, fused, frozen_head):
    torch.manual_seed(1)
    model = Transformer(ModelConfig(vocab_size=97, n_layer=2, d_model=32, n_head=4, max_seq_len=32,
                                    tie_embeddings=True))
    if frozen_head:
        model.tok_embeddings.weight.requires_grad_(False)
    monkeypatch.setattr(Transformer, "can_fuse_head", lambda self: fused)
    batch = batch_with_prompts()
    selected = {**batch, **target_positions(batch["labels"])}
    n_targets = int(selected["target_positions"].numel()) + 5  # other micro-batches' targets too
    assert n_targets - 5 < batch["input_ids"].numel() / 2
    loss, grads = gradients(model, batch, n_targets)
    loss_selected, grads_selected = gradients(model, selected, n_targets)
    torch.testing.assert_close(loss_selected, loss)
    for ours, theirs in zip(grads_selected, grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_a_micro_batch_without_targets_adds_zero_and_keeps_the_graph():
    model = Transformer(ModelConfig(vocab_size=97, n_layer=1, d_model=16, n_head=2, max_seq_len=32))
    batch = batch_with_prompts()
    batch["labels"][:] = IGNORE_INDEX
    batch.update(target_positions(batch["labels"]))
    loss = token_loss(model, batch, n_targets=10)
    loss.backward()
    assert loss.item() == 0.0
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_a_lora_wrapped_head_is_run_as_a_module_and_its_adapter_trains():
    from jaforge.sft.config import LoRASettings
    from jaforge.sft.lora import add_lora

    torch.manual_seed(2)
    model = Transformer(ModelConfig(vocab_size=97, n_layer=1, d_model=32, n_head=4, max_seq_len=32,
                                    tie_embeddings=False))
    add_lora(model, LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "lm_head"]))
    for name, p in model.named_parameters():
        if "lm_head" in name and "lora_B" in name:
            torch.nn.init.normal_(p)  # a non-zero adapter: ignoring it would change the loss
    assert not model.can_fuse_head()
    batch = batch_with_prompts()
    selected = {**batch, **target_positions(batch["labels"])}
    loss, grads = gradients(model, batch, 30)
    loss_selected, grads_selected = gradients(model, selected, 30)
    torch.testing.assert_close(loss_selected, loss)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lm_head" in n for n in names)
    for name, ours, theirs in zip(names, grads_selected, grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6, msg=name)


def test_a_compiled_model_runs_its_body_through_the_compiled_forward():
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    torch.manual_seed(3)
    model = Transformer(ModelConfig(vocab_size=97, n_layer=1, d_model=16, n_head=2, max_seq_len=32))
    batch = batch_with_prompts()
    selected = {**batch, **target_positions(batch["labels"])}
    eager = token_loss(model, selected, 40)
    compiled = token_loss(torch.compile(model, backend=counting_backend), selected, 40)
    assert graphs, "token_loss bypassed the compiled forward"
    torch.testing.assert_close(compiled, eager)


@pytest.mark.parametrize("grad", [True, False])
def test_response_logprobs_run_the_head_at_targets_only_and_give_the_full_logits_sums(monkeypatch, grad):
    """DPO's policy term (with a gradient) and held-out perplexity (without, in chunks) read the
    same per-row sums as the full [B, T, V] logits, from a head that sees only target rows."""
    torch.manual_seed(2)
    model = Transformer(ModelConfig(vocab_size=97, n_layer=2, d_model=32, n_head=4, max_seq_len=32))
    batch = batch_with_prompts()
    logits = model(batch["input_ids"]).logits.float()
    full = -torch.nn.functional.cross_entropy(
        logits.reshape(-1, 97), shifted_targets(batch["labels"]).reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="none").view(3, 19).sum(dim=1)
    rows_seen = []
    model.lm_head.register_forward_hook(lambda _m, args, _out: rows_seen.append(args[0].shape[0]))
    monkeypatch.setattr(objectives, "default_chunk_rows", lambda device, vocab: 7)
    with torch.set_grad_enabled(grad):
        sums = response_logprobs(model, batch)
    torch.testing.assert_close(sums, full, rtol=1e-5, atol=1e-5)
    n_targets = int((shifted_targets(batch["labels"]) != IGNORE_INDEX).sum())
    assert sum(rows_seen) == n_targets
    assert max(rows_seen) == (n_targets if grad else 7)
    assert sums.requires_grad == grad
