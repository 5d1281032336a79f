"""Text generation over an eval backend: greedy or sampled (temperature, top-p), CTRL repetition
penalty, stop strings, a token budget; keys/values cached between steps.

    from jaforge.eval import GenerationConfig, generate, load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")
    generate(backend, ["### 指示：\n…\n\n### 応答："], GenerationConfig(max_new_tokens=32, stop=["\n\n"]))

Prompts are encoded like lm-eval's `generate_until` (the tokenizer's default special tokens) and
truncated from the left to leave room for `max_new_tokens`. The output is the decoded new text
(special tokens skipped) cut at the earliest stop string.
"""

from __future__ import annotations

from typing import Optional, Sequence

from jaforge.eval.backends import Backend
from jaforge.eval.config import GenerationConfig


def apply_repetition_penalty(logits, seen, penalty: float):
    """CTRL (Keskar et al. 2019) as transformers applies it: the logits of tokens already in
    the sequence are divided by `penalty` when positive and multiplied by it when negative."""
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    import torch

    scores = logits.gather(-1, seen)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.scatter(-1, seen, scores)


def top_p_filter(logits, top_p: float):
    """Keep the smallest set of most likely tokens whose probabilities sum to at least top_p."""
    if top_p >= 1.0:
        return logits
    import torch

    ordered, order = logits.sort(descending=True)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative - ordered.softmax(dim=-1) >= top_p   # tokens after the nucleus is full
    ordered = ordered.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)


def next_token(logits, cfg: GenerationConfig, generator) -> int:
    import torch

    if cfg.temperature <= 0:
        return int(logits.argmax())
    probs = top_p_filter(logits / cfg.temperature, cfg.top_p).softmax(dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one occurred."""
    cuts = [text.find(s) for s in stops if s and s in text]
    return (text[:min(cuts)], True) if cuts else (text, False)


def generate_one(backend: Backend, prompt_ids: list[int], cfg: GenerationConfig, generator) -> str:
    import torch

    budget = max(1, backend.max_length - cfg.max_new_tokens)
    prompt_ids = prompt_ids[-budget:]
    steps = min(cfg.max_new_tokens, backend.max_length - len(prompt_ids))
    seen = torch.tensor(prompt_ids, dtype=torch.long, device=backend.device)
    fresh, cache, new_ids = seen[None], None, []
    for _ in range(steps):
        logits, cache = backend.forward(fresh, cache, last_only=True)
        logits = apply_repetition_penalty(logits[0, -1].float(), seen.unique(), cfg.repetition_penalty)
        token = next_token(logits, cfg, generator)
        if cfg.stop_at_eos and token == backend.tokenizer.eos_id:
            break
        new_ids.append(token)
        seen = torch.cat((seen, seen.new_tensor([token])))
        fresh = seen.new_tensor([[token]])
        if cfg.stop and cut_at_stop(backend.tokenizer.decode(new_ids), cfg.stop)[1]:
            break
    return cut_at_stop(backend.tokenizer.decode(new_ids), cfg.stop)[0]


def generate(backend: Backend, prompts: Sequence[str], cfg: Optional[GenerationConfig] = None
             ) -> list[str]:
    """The continuation of every prompt under `cfg` (greedy, 64 tokens by default)."""
    import torch

    cfg = cfg or GenerationConfig()
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    encoded = backend.tokenizer.encode_batch(list(prompts))
    with torch.inference_mode():
        return [generate_one(backend, ids, cfg, generator) for ids in encoded]
