"""Log-likelihood scoring with lm-evaluation-harness's conventions, and response-only perplexity.

    from jaforge.eval.scoring import encode_pair, choice_logliks, response_perplexity
    ctx, cont = encode_pair(backend.tokenizer, context, "\n含意")
    choice_logliks(backend, context, ["\n含意", "\n矛盾", "\n中立"])    # [ll, ll, ll]
    batched_continuation_logprobs(backend, [(ctx_ids, [cont_ids, …]), …], batch_size=16)
    continuation_logprobs(backend, ctx_ids, [cont_ids, …])         # one request
    response_perplexity(backend, [(prompt, response), …])             # exp(mean per-example NLL)

Conventions copied from the harness (lm_eval/api/model.py `_encode_pair`, models/huggingface.py):
the context's trailing whitespace moves to the front of the continuation; context + continuation
are encoded together and split at len(encode(context)); the scored input is
(context + continuation)[-(max_length + 1):][:-1], i.e. truncated from the left. An empty
context is the BOS (else EOS) token. Unlike the harness, each example's context runs once, in a
batch of left-padded contexts (pads masked out, positions restarting at each first real token),
and the choices of the whole batch then run together against the cached keys/values; an example
longer than the window runs once per distinct choice length (see `plan_contexts`), not once per
choice.
"""

from __future__ import annotations

import math
from typing import Sequence

from jaforge.eval.backends import Backend
from jaforge.eval.text_tokenizer import TextTokenizer


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
    return batched_continuation_logprobs(backend, [(context_ids, continuations_ids)], batch_size=1)[0]


def batched_continuation_logprobs(backend: Backend,
                                  requests: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
                                  batch_size: int = 16) -> list[list[float]]:
    """Summed log-probabilities of every (context ids, [continuation ids, …]) request's
    continuations. Every request becomes contexts that fit the window (`plan_contexts`); these run
    `batch_size` at a time, longest first (as the harness orders them, so that a batch holds
    similar lengths), left-padded, and then all their continuations in one pass against the
    cached contexts."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for _, continuations_ids in requests:
        if any(len(c) == 0 for c in continuations_ids):
            raise ValueError("an empty continuation cannot be scored (the harness asserts the same)")
    scores = [[0.0] * len(continuations_ids) for _, continuations_ids in requests]
    units, too_long = plan_contexts(requests, backend.max_length)
    order = sorted(range(len(units)), key=lambda u: -len(units[u][0]))
    for chunk in (order[start:start + batch_size] for start in range(0, len(order), batch_size)):
        batch = [(units[u][0], [requests[i][1][j] for i, j in units[u][1]]) for u in chunk]
        for u, row in zip(chunk, cached_context_logprobs(backend, batch)):
            for (i, j), score in zip(units[u][1], row):
                scores[i][j] = score
    _score_truncated(backend, requests, too_long, batch_size, scores)
    return scores


def plan_contexts(requests, max_length: int) -> tuple[list[tuple[list[int], list[tuple[int, int]]]],
                                                      list[tuple[int, int]]]:
    """The contexts to run and the (request, continuation) pairs each one scores. A request that
    fits the window is one context for all its choices. One that does not is scored as the
    harness scores it — each choice on the window (context + choice)[-(max_length + 1):][:-1] —
    but that window is, exactly, the context's last max_length + 1 − len(choice) tokens followed
    by the choice: so the choices of equal length share one truncated context. Only a choice
    longer than the window itself takes the harness's per-pair path (the second list)."""
    units: list[tuple[list[int], list[tuple[int, int]]]] = []
    too_long: list[tuple[int, int]] = []
    for i, (context_ids, continuations_ids) in enumerate(requests):
        groups: dict[int, list[tuple[int, int]]] = {}
        for j, cont in enumerate(continuations_ids):
            if len(context_ids) + len(cont) <= max_length + 1:
                groups.setdefault(len(context_ids), []).append((i, j))
            elif len(cont) <= max_length:
                groups.setdefault(max_length + 1 - len(cont), []).append((i, j))
            else:
                too_long.append((i, j))
        units += [(list(context_ids[len(context_ids) - keep:]), members) for keep, members in groups.items()]
    return units, too_long


def _score_truncated(backend: Backend, requests, pairs: list[tuple[int, int]], batch_size: int,
                     scores: list[list[float]]) -> None:
    """Fill in `scores` of continuations longer than the window, `batch_size` (context,
    continuation) pairs per pass on their left-truncated windows."""
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        windows = [(list(requests[i][0]), list(requests[i][1][j])) for i, j in chunk]
        for (i, j), score in zip(chunk, truncated_logprobs_batch(backend, windows)):
            scores[i][j] = score


def cached_context_logprobs(backend: Backend,
                            requests: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]]
                            ) -> list[list[float]]:
    """One batch of requests that fit the window: the contexts, left-padded, in one pass whose
    last position scores every continuation's first token; then the rest of every continuation
    (right-padded, after its example's cached context) in a second pass."""
    import torch

    with torch.inference_mode():
        last, contexts = backend.forward_contexts([c for c, _ in requests])
        first = _log_softmax(last)
        rows = [(b, j) for b, (_, conts) in enumerate(requests) for j in range(len(conts))]
        firsts = first[[b for b, _ in rows], [requests[b][1][j][0] for b, j in rows]].tolist()
        scores = [[0.0] * len(conts) for _, conts in requests]
        for (b, j), s in zip(rows, firsts):
            scores[b][j] = s
        longer = [(b, j) for b, j in rows if len(requests[b][1][j]) > 1]
        if not longer:
            return scores
        conts = [requests[b][1][j] for b, j in longer]
        inputs, targets, mask = _padded_shifted(conts, max(len(c) for c in conts), backend.device)
        logits = backend.forward_continuations(contexts, [b for b, _ in longer], inputs)
        for (b, j), r in zip(longer, _gather_logprobs(logits, targets, mask).tolist()):
            scores[b][j] += r
    return scores


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


def _log_softmax(logits):
    """Log-probabilities in float32 at least (float64 logits stay float64)."""
    import torch

    return torch.log_softmax(logits if logits.dtype == torch.float64 else logits.float(), dim=-1)


def _gather_logprobs(logits, targets, mask):
    """Per-row sum of log P(target) over the masked positions (summed in float64: a float32
    sum of a long continuation would round at the 1e-5 level)."""
    logprobs = _log_softmax(logits)
    picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double()
    return (picked * mask).sum(dim=-1)


def truncated_logprobs(backend: Backend, context_ids: Sequence[int],
                       continuations_ids: Sequence[Sequence[int]]) -> list[float]:
    """The harness's own computation: each choice on its own left-truncated window, in one
    right-padded plain forward pass (no cache): the reference the cached paths are tested on."""
    return truncated_logprobs_batch(backend, [(list(context_ids), list(c)) for c in continuations_ids])


def choice_logliks(backend: Backend, context: str, continuations: Sequence[str]) -> list[float]:
    """log P(continuation | context) of each continuation string (harness tokenisation)."""
    context_ids, conts = encode_choices(backend.tokenizer, context, continuations)
    return continuation_logprobs(backend, context_ids, conts)


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
    sums = batched_continuation_logprobs(backend, [(p, [r]) for p, r in rows], batch_size)
    return [-row[0] / len(r) for row, (_, r) in zip(sums, rows)]


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
        mask = mask.to(backend.device)
        logprobs = _log_softmax(backend.logits_at(inputs.to(backend.device), mask))
        picked = logprobs.gather(-1, targets.to(backend.device)[mask].unsqueeze(-1)).squeeze(-1).double()
        rows = torch.arange(len(pairs), device=backend.device)[:, None].expand_as(mask)[mask]
        sums = torch.zeros(len(pairs), dtype=torch.float64, device=backend.device).index_add_(0, rows, picked)
    return [float(s) for s in sums]


def response_perplexity(backend: Backend, examples: Sequence[tuple[str, str]], batch_size: int = 16,
                        append_eos: bool = False) -> float:
    """exp(mean over examples of the per-example mean NLL of the response tokens)."""
    if not examples:
        raise ValueError("response_perplexity needs at least one (prompt, response) pair")
    nlls = response_nlls(backend, examples, batch_size, append_eos)
    return math.exp(sum(nlls) / len(nlls))
