"""Text generation over an eval backend, batched: prompts sorted by length and left-padded, one
cached forward pass for the prompts, then one token per row per step against the key/value
cache; greedy or sampled (temperature, top-k, top-p), CTRL repetition penalty, stop strings, a budget.

    from jaforge.eval import GenerationConfig, generate, load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")
    generate(backend, ["### 指示：\n…\n\n### 応答："], GenerationConfig(max_new_tokens=32, stop=["\n\n"]))

Prompts are encoded like lm-eval's `generate_until` (the tokenizer's default special tokens) and
truncated from the left to leave room for `max_new_tokens`. A row stops at the end-of-sequence
token or once its text holds a stop string, and leaves the batch; the output is the decoded new
text (special tokens skipped) cut at the earliest stop string. Greedy outputs do not depend on
the batch size; sampled ones draw from one seeded generator in batch order.
"""

from __future__ import annotations

from typing import Optional, Sequence

from jaforge.eval.backends import Backend
from jaforge.eval.config import GenerationConfig

STOP_LOOKBACK_TOKENS = 8
"""Tokens decoded past a stop string's length to look for it (tokenisers split text freely)."""


def apply_repetition_penalty(logits, seen, penalty: float):
    """CTRL (Keskar et al. 2019) as transformers applies it: the logits of tokens already in
    the sequence are divided by `penalty` when positive and multiplied by it when negative.
    `seen`: [V] or [B, V] bool mask of the tokens in each sequence."""
    if penalty == 1.0:
        return logits
    import torch

    return torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)


def top_k_filter(logits, top_k: int):
    """Keep the `top_k` most likely tokens of each row (ties at the k-th logit kept, as
    transformers' TopKLogitsWarper does); 0 keeps all."""
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = logits.topk(top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, top_p: float):
    """Keep the smallest set of most likely tokens whose probabilities sum to at least top_p."""
    if top_p >= 1.0:
        return logits
    import torch

    ordered, order = logits.sort(dim=-1, descending=True)
    probs = ordered.softmax(dim=-1)
    drop = probs.cumsum(dim=-1) - probs >= top_p   # tokens after the nucleus is full
    ordered = ordered.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)


def next_tokens(logits, cfg: GenerationConfig, generator):
    """[B] next token of every row: argmax, or a draw at `cfg.temperature` within top-k, then top-p."""
    import torch

    if cfg.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = top_p_filter(top_k_filter(logits / cfg.temperature, cfg.top_k), cfg.top_p).softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(logits.device)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one occurred."""
    cuts = [text.find(s) for s in stops if s and s in text]
    return (text[:min(cuts)], True) if cuts else (text, False)


def _stopped(tokenizer, ids: list[int], stops: Sequence[str]) -> bool:
    if not stops:
        return False
    tail = tokenizer.decode(ids[-(max(len(s) for s in stops) + STOP_LOOKBACK_TOKENS):])
    return cut_at_stop(tail, stops)[1] and cut_at_stop(tokenizer.decode(ids), stops)[1]


def generate_batch(backend: Backend, prompts_ids: list[list[int]], cfg: GenerationConfig,
                   generator) -> list[list[int]]:
    """The new token ids of every prompt (one batch, prompts already truncated)."""
    import torch

    steps = min(cfg.max_new_tokens, backend.max_length - max(len(p) for p in prompts_ids))
    logits, contexts = backend.forward_contexts(prompts_ids)
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    for row, prompt in enumerate(prompts_ids):
        seen[row, prompt] = True
    outputs: list[list[int]] = [[] for _ in prompts_ids]
    active = list(range(len(prompts_ids)))
    for step in range(max(0, steps)):
        scores = apply_repetition_penalty(logits.float(), seen, cfg.repetition_penalty)
        chosen = next_tokens(scores, cfg, generator)
        finished = []
        for row, token in enumerate(chosen.tolist()):
            if cfg.stop_at_eos and token == backend.tokenizer.eos_id:
                finished.append(row)
                continue
            outputs[active[row]].append(token)
            if _stopped(backend.tokenizer, outputs[active[row]], cfg.stop):
                finished.append(row)
        if len(finished) == len(active) or step == steps - 1:
            break
        seen[torch.arange(len(active), device=seen.device), chosen] = True
        if finished:
            keep = torch.tensor([r for r in range(len(active)) if r not in finished], device=backend.device)
            contexts, chosen, seen = backend.keep_rows(contexts, keep), chosen[keep], seen[keep]
            active = [a for r, a in enumerate(active) if r not in finished]
        logits = backend.decode_step(contexts, chosen)
    return outputs


def generate(backend: Backend, prompts: Sequence[str], cfg: Optional[GenerationConfig] = None,
             batch_size: int = 16) -> list[str]:
    """The continuation of every prompt under `cfg` (greedy, 64 tokens by default)."""
    import torch

    cfg = cfg or GenerationConfig()
    if cfg.max_new_tokens >= backend.max_length:
        raise ValueError(f"max_new_tokens {cfg.max_new_tokens} leaves no room for the prompt in the "
                         f"model's window of {backend.max_length} tokens")
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    budget = backend.max_length - cfg.max_new_tokens
    encoded = [ids[-budget:] for ids in backend.tokenizer.encode_batch(list(prompts))]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    texts = [""] * len(encoded)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, new_ids in zip(chunk, generate_batch(backend, [encoded[i] for i in chunk], cfg, generator)):
                texts[i] = cut_at_stop(backend.tokenizer.decode(new_ids), cfg.stop)[0]
    return texts
