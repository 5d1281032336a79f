"""Models the eval stage scores — jaforge checkpoints and Hugging Face causal LMs — behind one
small interface: batched forward passes with a key/value cache, on any torch device.

    from jaforge.eval import load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")              # see jaforge.eval.loading
    last, contexts = backend.forward_contexts([ids, …])          # a batch of contexts, cached
    logits = backend.forward_continuations(contexts, rows, cont)  # each row after its context
    logits = backend.decode_step(contexts, next_tokens)           # one generated token per row

A batch's common first tokens run once; Hugging Face contexts are right-padded (the causal
kernel, no mask) and jaforge contexts left-padded with segment ids; later passes mask the pads.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Sequence

from jaforge import model as jaforge_model
from jaforge.eval.text_tokenizer import TextTokenizer


@dataclass
class CachedContexts:
    """A batch of padded sequences after their forward pass: what continuations need."""

    cache: Any
    """The backend's key/value cache of the padded contexts."""
    real: Any
    """[batch, width] bool: True on the contexts' tokens, False on the pads."""
    lengths: Any
    """[batch] real tokens of each row (the position of its next token)."""

    @property
    def padded(self) -> bool:
        return not bool(self.real.all())


def left_padded_positions(real):
    """Positions that start at 0 on each row's first real token (0 on the pads before it)."""
    return (real.long().cumsum(dim=1) - 1).clamp(min=0)


MIN_SHARED_PREFIX = 8
"""Fewest common first tokens worth a pass of their own."""


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many first tokens all sequences share (each keeps at least one of its own), or 0 when
    fewer than MIN_SHARED_PREFIX or a single sequence."""
    if len(sequences) < 2:
        return 0
    first, shortest = sequences[0], min(len(s) for s in sequences)
    common = 0
    while common < shortest - 1 and all(s[common] == first[common] for s in sequences):
        common += 1
    return common if common >= MIN_SHARED_PREFIX else 0


def _after_prefix(real, prefix: int):
    """The real-token mask with `prefix` real tokens in front."""
    import torch

    return torch.cat((real.new_ones((len(real), prefix)), real), dim=1) if prefix else real


def padded(sequences: Sequence[Sequence[int]], device, side: str = "left"):
    """Ids [B, W] of the sequences padded on `side` (with 0), and the mask of their real tokens."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.zeros((len(sequences), width), dtype=torch.long)
    real = torch.zeros((len(sequences), width), dtype=torch.bool)
    for i, s in enumerate(sequences):
        span = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        ids[i, span] = torch.tensor(list(s), dtype=torch.long)
        real[i, span] = True
    return ids.to(device), real.to(device)


class Backend:
    """A causal LM + its tokenizer on `device`. Subclasses implement the forward passes."""

    name = "backend"
    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        self.model, self.tokenizer, self.max_length, self.device = model, tokenizer, max_length, device

    def forward(self, ids):
        """Logits [B, T, V] of a plain (unpadded or right-padded) causal pass."""
        raise NotImplementedError

    def logits_at(self, ids, where):
        """Logits [M, V] of a plain causal pass over `ids` [B, T] at the M positions where the
        bool mask `where` [B, T] is True (row by row)."""
        return self.forward(ids)[where]

    def forward_contexts(self, sequences: Sequence[Sequence[int]]):
        """A batch of token sequences, padded: each one's last-token logits [B, V] as if it ran
        alone, and their `CachedContexts` (`real` False on the pads). Their common first tokens
        (few-shot prompts share the description and the first instruction) run once, and
        their keys/values are shared by every row."""
        prefix = shared_prefix_length(sequences)
        cache = self._prefix_cache(sequences[0][:prefix], len(sequences)) if prefix else None
        return self._forward_rest([s[prefix:] for s in sequences], prefix, cache)

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        """The cache of `prefix` run once, repeated for `rows` rows."""
        raise NotImplementedError

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        """`forward_contexts` for sequences that continue `cache` (`prefix` tokens; None: none)."""
        raise NotImplementedError

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        """Logits [R, L, V] of `ids` [R, L], row r continuing cached context `rows[r]` (a
        context may appear in several rows; consumes `contexts`). Right pads in `ids` are
        harmless: a token attends only to earlier ones."""
        raise NotImplementedError

    def decode_step(self, contexts: CachedContexts, tokens):
        """Last-position logits [B, V] after appending one token [B] to every row (updates
        `contexts` in place)."""
        raise NotImplementedError

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        """The cached rows `rows` (a 1-D index), e.g. the sequences still being generated."""
        raise NotImplementedError

    def _continuation_positions(self, contexts: CachedContexts, rows, width: int):
        import torch

        rows = torch.as_tensor(rows, dtype=torch.long, device=contexts.lengths.device)
        offsets = torch.arange(width, device=contexts.lengths.device)
        return rows, contexts.lengths[rows][:, None] + offsets[None, :]

    @staticmethod
    def _grow(contexts: CachedContexts, width: int) -> None:
        import torch

        contexts.real = torch.cat((contexts.real, contexts.real.new_ones((len(contexts.real), width))), dim=1)
        contexts.lengths = contexts.lengths + width


class JaforgeBackend(Backend):
    name = "jaforge"

    def forward(self, ids):
        return self.model(ids).logits

    def logits_at(self, ids, where):
        # the output head at the scored positions only: on a small model it is a third of the pass
        return self.model.lm_head(self.model.hidden_states(ids)[where])

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        import torch

        ids = torch.tensor([list(prefix)], device=self.device)
        cache = jaforge_model.KVCache()
        # segment 1: the real tokens
        self.model(ids, segment_ids=torch.ones_like(ids), cache=cache, logits_to_keep=1)
        return cache.repeat_rows(rows)

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        ids, real = padded(sequences, self.device, "left")
        cache = cache if cache is not None else jaforge_model.KVCache()
        if bool(real.all()):  # no padding: the plain causal pass (after the prefix, if any)
            logits = self.model(ids, cache=cache, logits_to_keep=1).logits
        else:
            # pads are segment 0, tokens (and the prefix) segment 1: a token never attends to a pad
            logits = self.model(ids, position_ids=prefix + left_padded_positions(real),
                                segment_ids=real.long(), cache=cache, logits_to_keep=1).logits
        return logits[:, -1], CachedContexts(cache, _after_prefix(real, prefix), prefix + real.sum(dim=1))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        cache = contexts.cache.select_rows(rows)
        # no segment ids: the new tokens continue their row's last cached segment (its tokens)
        return self.model(ids, position_ids=positions, cache=cache).logits

    def decode_step(self, contexts: CachedContexts, tokens):
        positions = contexts.lengths[:, None] if contexts.padded else None
        logits = self.model(tokens[:, None], position_ids=positions, cache=contexts.cache).logits
        self._grow(contexts, 1)
        return logits[:, -1]

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        return CachedContexts(contexts.cache.select_rows(rows), contexts.real[rows], contexts.lengths[rows])


class HFBackend(Backend):
    name = "hf"

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        super().__init__(model, tokenizer, max_length, device)
        # transformers 5 names the cache argument `cache`; 4.x `past_key_values`
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters \
            else "past_key_values"

    def _call(self, ids, cache=None, **kwargs):
        out = self.model(input_ids=ids, use_cache=True, **{self._cache_arg: cache}, **kwargs)
        return out.logits, (out.cache if hasattr(out, "cache") else out.past_key_values)

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).logits

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        import torch

        _, cache = self._call(torch.tensor([list(prefix)], device=self.device), logits_to_keep=1)
        cache.batch_repeat_interleave(rows)
        return cache

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        import torch

        # right padding: a real token never sees a later pad, so the pass needs no mask and takes
        # SDPA's causal kernel; later passes mask the pads out of the cache
        ids, real = padded(sequences, self.device, "right")
        lengths = real.sum(dim=1)
        last = torch.unique(lengths - 1)
        logits, cache = self._call(ids, cache, logits_to_keep=last)
        rows = torch.arange(len(sequences), device=ids.device)
        return (logits[rows, torch.searchsorted(last, lengths - 1)],
                CachedContexts(cache, _after_prefix(real, prefix), prefix + lengths))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        import torch

        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        contexts.cache.batch_select_indices(rows)
        mask = torch.cat((contexts.real[rows], torch.ones_like(ids, dtype=torch.bool)), dim=1)
        logits, _ = self._call(ids, contexts.cache, attention_mask=mask.long(), position_ids=positions)
        return logits

    def decode_step(self, contexts: CachedContexts, tokens):
        if contexts.padded:
            self._grow(contexts, 1)
            logits, contexts.cache = self._call(tokens[:, None], contexts.cache, logits_to_keep=1,
                                                attention_mask=contexts.real.long(),
                                                position_ids=contexts.lengths[:, None] - 1)
        else:
            logits, contexts.cache = self._call(tokens[:, None], contexts.cache, logits_to_keep=1)
            self._grow(contexts, 1)
        return logits[:, -1]

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        contexts.cache.batch_select_indices(rows)
        return CachedContexts(contexts.cache, contexts.real[rows], contexts.lengths[rows])
