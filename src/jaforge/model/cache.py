"""The key/value cache of incremental decoding and of shared-prefix scoring.

    cache = KVCache()
    out = model(context_ids, cache=cache)         # fills one (k, v) per layer
    choices = cache.repeat_rows(n_choices)        # the context once, reused by every choice
    out = model(continuation_ids, cache=choices)  # positions continue at cache.length

Keys and values are stored per layer as [batch, kv_heads, tokens, head_dim]. When the model is
called with `segment_ids` the cache also keeps the keys' segment ids, so later tokens attend only
to cached tokens of their own segment (left padding, packed prompts).

A recurrent token mixer (`ModelConfig.mixer = "rwkv"`) keeps a fixed-size state per layer in
`states` instead of growing keys/values; `length` then counts the tokens that state has read.
"""

from __future__ import annotations

from typing import Optional

import torch


class KVCache:
    def __init__(self) -> None:
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.segments: Optional[torch.Tensor] = None
        """[batch, tokens] segment id of every cached token, when segments are in use."""
        self.states: list[tuple[torch.Tensor, ...]] = []
        """Per layer, the state of a recurrent mixer (tensors with the batch first)."""
        self.state_length = 0
        """Tokens the recurrent states have read."""

    @property
    def length(self) -> int:
        """Tokens cached (per row)."""
        return self.layers[0][0].shape[2] if self.layers else self.state_length

    def recurrent_state(self, layer: int) -> Optional[tuple[torch.Tensor, ...]]:
        """The recurrent state of `layer`, None before its first call."""
        return self.states[layer] if layer < len(self.states) else None

    def set_recurrent_state(self, layer: int, state: tuple[torch.Tensor, ...], new_tokens: int) -> None:
        """Replace the state of `layer` after it read `new_tokens` more tokens (layer 0's update
        advances `length`, as layer 0's keys do for attention)."""
        if layer == len(self.states):
            self.states.append(state)
        else:
            self.states[layer] = state
        if layer == 0:
            self.state_length += new_tokens

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this call's keys/values of `layer`; return all keys/values of that layer."""
        if layer == len(self.layers):
            self.layers.append((k, v))
        else:
            past_k, past_v = self.layers[layer]
            self.layers[layer] = (torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2))
        return self.layers[layer]

    def key_segments(self, segments: Optional[torch.Tensor], new_tokens: int) -> Optional[torch.Tensor]:
        """Segment ids of every key that a call with `new_tokens` tokens of query `segments` sees
        (cached, then new), recording the new ones; call before the layers update. New tokens
        without segment ids continue the segment of their row's last cached token; cached tokens
        without them form segment 0. None when neither the cache nor the call uses segments."""
        if segments is None and self.segments is None:
            return None
        if segments is None:
            segments = self.segments[:, -1:].expand(-1, new_tokens)
        past = self.segments
        if past is None:
            past = torch.zeros(segments.shape[0], self.length, dtype=torch.long, device=segments.device)
        self.segments = torch.cat((past, segments), dim=1)
        return self.segments

    def _map_rows(self, fn) -> "KVCache":
        other = KVCache()
        other.layers = [(fn(k), fn(v)) for k, v in self.layers]
        other.segments = None if self.segments is None else fn(self.segments)
        other.states = [tuple(fn(t) for t in state) for state in self.states]
        other.state_length = self.state_length
        return other

    def repeat_rows(self, n: int) -> "KVCache":
        """A new cache with each batch row repeated n times (row i → rows i·n … i·n+n−1)."""
        return self._map_rows(lambda t: t.repeat_interleave(n, dim=0))

    def select_rows(self, index: torch.Tensor | list[int]) -> "KVCache":
        """A new cache holding the given batch rows, in that order."""
        index = torch.as_tensor(index, dtype=torch.long)
        return self._map_rows(lambda t: t.index_select(0, index.to(t.device)))
