"""Log-likelihood scoring with lm-evaluation-harness's conventions, and response-only perplexity.

    from jaforge.eval.scoring import encode_pair, choice_logliks, response_perplexity
    ctx, cont = encode_pair(backend.tokenizer, context, "\n含意")
    choice_logliks(backend, context, ["\n含意", "\n矛盾", "\n中立"])    # [ll, ll, ll]
    response_perplexity(backend, [(prompt, response), …])             # exp(mean per-example NLL)

Conventions copied from the harness (lm_eval/api/model.py `_encode_pair`, models/huggingface.py):
the context's trailing whitespace moves to the front of the continuation; context + continuation
are encoded together and split at len(encode(context)); the scored input is
(context + continuation)[-(max_length + 1):][:-1], i.e. truncated from the left. An empty
context is the BOS (else EOS) token. Unlike the harness, the context is run once per example and
its choices are run together against its cached keys/values.
"""

from __future__ import annotations

import math
from typing import Sequence

from jaforge.eval.backends import Backend, TextTokenizer


def encode_pair(tokenizer: TextTokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) exactly as lm-eval's `_encode_pair` makes them."""
    context_ids, (continuation_ids,) = encode_choices(tokenizer, context, [continuation])
    return context_ids, continuation_ids


def encode_choices(tokenizer: TextTokenizer, context: str, continuations: Sequence[str]
                   ) -> tuple[list[int], list[list[int]]]:
    """The context's ids (shared by every choice) and each continuation's ids."""
    if context == "":
        prefix = tokenizer.bos_id if tokenizer.bos_id is not None else tokenizer.eos_id
        conts = tokenizer.encode_batch(list(continuations), add_special_tokens=False)
        if all(c[:1] != [prefix] for c in conts):
            return [prefix], conts
        # the harness takes a leading prefix token of a continuation as its context
        return [prefix], [c[1:] if c[:1] == [prefix] else c for c in conts]
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuations = [context[-spaces:] + c for c in continuations]
        context = context[:-spaces]
    encoded = tokenizer.encode_batch([context] + [context + c for c in continuations])
    context_ids = encoded[0]
    return context_ids, [whole[len(context_ids):] for whole in encoded[1:]]


def continuation_logprobs(backend: Backend, context_ids: Sequence[int],
                          continuations_ids: Sequence[Sequence[int]]) -> list[float]:
    """Sum of log-probabilities of each continuation after the context."""
    import torch

    if any(len(c) == 0 for c in continuations_ids):
        raise ValueError("an empty continuation cannot be scored (the harness asserts the same)")
    if any(len(context_ids) + len(c) > backend.max_length + 1 for c in continuations_ids):
        return truncated_logprobs(backend, context_ids, continuations_ids)
    with torch.inference_mode():
        ids = torch.tensor([list(context_ids)], dtype=torch.long, device=backend.device)
        last, cache = backend.forward(ids, last_only=True)
        first = torch.log_softmax(last[0, -1].float(), dim=-1)
        scores = [float(first[c[0]]) for c in continuations_ids]
        longest = max(len(c) for c in continuations_ids)
        if longest == 1:
            return scores
        inputs, targets, mask = _padded_shifted(continuations_ids, longest, backend.device)
        cache = backend.repeat_cache(cache, len(continuations_ids))
        logits, _ = backend.forward(inputs, cache)
        rest = _gather_logprobs(logits, targets, mask)
    return [s + float(r) for s, r in zip(scores, rest)]


def _padded_shifted(continuations_ids, longest: int, device):
    """Inputs c[:-1] and targets c[1:], right-padded to longest-1, with the targets' mask."""
    import torch

    n = len(continuations_ids)
    inputs = torch.zeros((n, longest - 1), dtype=torch.long)
    targets = torch.zeros((n, longest - 1), dtype=torch.long)
    mask = torch.zeros((n, longest - 1), dtype=torch.bool)
    for i, c in enumerate(continuations_ids):
        inputs[i, :len(c) - 1] = torch.tensor(c[:-1])
        targets[i, :len(c) - 1] = torch.tensor(c[1:])
        mask[i, :len(c) - 1] = True
    return inputs.to(device), targets.to(device), mask.to(device)


def _gather_logprobs(logits, targets, mask):
    """Per-row sum of log P(target) over the masked positions."""
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)
    picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(dim=-1)


def truncated_logprobs(backend: Backend, context_ids: Sequence[int],
                       continuations_ids: Sequence[Sequence[int]]) -> list[float]:
    """The harness's path for inputs longer than the window: each choice on its own
    left-truncated window, batched with right padding."""
    return truncated_logprobs_batch(backend, [(list(context_ids), list(c)) for c in continuations_ids])


def choice_logliks(backend: Backend, context: str, continuations: Sequence[str]) -> list[float]:
    """log P(continuation | context) of each continuation string (harness tokenisation)."""
    context_ids, conts = encode_choices(backend.tokenizer, context, continuations)
    return backend.continuation_logprobs(context_ids, conts)


def response_nlls(backend: Backend, examples: Sequence[tuple[str, str]], batch_size: int = 16,
                  append_eos: bool = False) -> list[float]:
    """Mean negative log-likelihood per response token of each (prompt, response) pair; the
    response is split off as the harness splits a continuation (see `encode_choices`)."""
    rows = []
    for prompt, response in examples:
        prompt_ids, (response_ids,) = encode_choices(backend.tokenizer, prompt, [response])
        if append_eos and backend.tokenizer.eos_id is not None:
            response_ids = response_ids + [backend.tokenizer.eos_id]
        if not response_ids:
            raise ValueError(f"response {response!r} encodes to no tokens")
        rows.append((prompt_ids, response_ids))
    nlls = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        nlls += [-float(s) / len(r) for s, (_, r) in
                 zip(truncated_logprobs_batch(backend, batch), batch)]
    return nlls


def truncated_logprobs_batch(backend: Backend, pairs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
    """Summed log P(continuation | context) of several (context ids, continuation ids) pairs in
    one right-padded forward pass (each on its left-truncated window)."""
    import torch

    windows = [(c + r)[-(backend.max_length + 1):][:-1] for c, r in pairs]
    width = max(len(w) for w in windows)
    inputs = torch.zeros((len(pairs), width), dtype=torch.long)
    targets = torch.zeros_like(inputs)
    mask = torch.zeros_like(inputs, dtype=torch.bool)
    for i, (w, (_, r)) in enumerate(zip(windows, pairs)):
        scored = r[-len(w):] if len(r) > len(w) else r
        inputs[i, :len(w)] = torch.tensor(w)
        targets[i, len(w) - len(scored):len(w)] = torch.tensor(scored)
        mask[i, len(w) - len(scored):len(w)] = True
    with torch.inference_mode():
        logits, _ = backend.forward(inputs.to(backend.device))
        sums = _gather_logprobs(logits, targets.to(backend.device), mask.to(backend.device))
    return [float(s) for s in sums]


def response_perplexity(backend: Backend, examples: Sequence[tuple[str, str]], batch_size: int = 16,
                        append_eos: bool = False) -> float:
    """exp(mean over examples of the per-example mean NLL of the response tokens)."""
    if not examples:
        raise ValueError("response_perplexity needs at least one (prompt, response) pair")
    nlls = response_nlls(backend, examples, batch_size, append_eos)
    return math.exp(sum(nlls) / len(nlls))
