"""Vocabularies of merged models: the preflight that refuses index-wise merges of different
vocabularies, and the alignment of embedding / output-head rows by token string.

    check_vocabularies(models)                      # VocabularyMismatch names the first differing tokens
    plan = plan_vocabulary(models, base, "union")   # output tokens; which row each model gives each
    rows = plan.align(key, tensor, base_tensor)     # one input's rows in the output's token order

A row a model lacks comes from the base when the base has that token, otherwise from the mean of
the model's rows for the token's sub-tokens (its text as the model's own tokenizer splits it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from jaforge.errors import ConfigError, InputError, JaforgeError
from jaforge.extras import require
from jaforge.merge.models import InputModel, load_tokenizer

log = logging.getLogger(__name__)


class VocabularyMismatch(JaforgeError):
    """Inputs whose tokenizers give different tokens to the same ids (exit code 1)."""


def _by_id(vocab: dict[str, int]) -> dict[int, str]:
    return {i: s for s, i in vocab.items()}


def first_differences(a: dict[str, int], b: dict[str, int], limit: int = 3) -> list[tuple[int, Optional[str], Optional[str]]]:
    """(id, token in a, token in b) of the first ids where the two vocabularies differ."""
    ids_a, ids_b = _by_id(a), _by_id(b)
    found = []
    for i in sorted(set(ids_a) | set(ids_b)):
        if ids_a.get(i) != ids_b.get(i):
            found.append((i, ids_a.get(i), ids_b.get(i)))
            if len(found) == limit:
                break
    return found


def check_vocabularies(models: dict[str, InputModel]) -> bool:
    """True when every input's tokenizer maps the same tokens to the same ids; raises
    VocabularyMismatch naming the first differing tokens otherwise. Inputs without a tokenizer
    cannot be compared (logged; returns False)."""
    known = {key: m.vocabulary() for key, m in models.items()}
    missing = [key for key, v in known.items() if v is None]
    if missing:
        log.warning("no tokenizer.json for %s: vocabularies not compared; rows are merged by index",
                    ", ".join(missing))
    keys = [k for k, v in known.items() if v is not None]
    for key in keys[1:]:
        first, other = known[keys[0]], known[key]
        if first == other:
            continue
        shown = "; ".join(f"id {i} is {a!r} in {keys[0]} but {b!r} in {key}"
                          for i, a, b in first_differences(first, other))
        raise VocabularyMismatch(
            f"the vocabularies of {keys[0]} ({len(first)} tokens) and {key} ({len(other)} tokens) differ "
            f"({shown}); merging rows by index would mix different tokens. Set tokenizer.source: base "
            f"or union (mergekit: tokenizer_source) to align embedding rows by token string")
    return not missing


@dataclass
class RowSources:
    """Where each output row of one input comes from: its own rows, the base's, or a sub-token mean."""
    own: tuple[list[int], list[int]]
    from_base: tuple[list[int], list[int]]
    means: list[tuple[int, list[int]]]


@dataclass
class VocabularyPlan:
    tokens: list[str]
    """Output token strings by id (as the input vocabularies spell them)."""
    tokenizer: object
    """The output tokenizer (a `tokenizers.Tokenizer`; union: the base's with the added tokens)."""
    tokenizer_dir: Path
    """Where the output tokenizer's other files (tokenizer_config.json …) come from."""
    added: list[str] = field(default_factory=list)
    """union: texts of the tokens added to the base tokenizer, in id order after its own."""
    rows: int = 0
    """Rows of the output embedding (the token count, padded to pad_to_multiple_of)."""
    base_vocab: Optional[dict[str, int]] = None
    vocabs: dict[str, dict[str, int]] = field(default_factory=dict)
    tokenizers: dict[str, object] = field(default_factory=dict)
    _sources: dict[tuple[str, int], RowSources] = field(default_factory=dict)

    def align(self, key: str, tensor: torch.Tensor, base_tensor: Optional[torch.Tensor]) -> torch.Tensor:
        """`tensor` (rows = model `key`'s token ids) re-ordered into the output's token order."""
        sources = self.row_sources(key, len(tensor), base_tensor is not None)
        out = tensor.new_zeros((self.rows, *tensor.shape[1:]))
        out[sources.own[0]] = tensor[sources.own[1]]
        if sources.from_base[0]:
            out[sources.from_base[0]] = base_tensor[sources.from_base[1]]
        for j, pieces in sources.means:
            out[j] = tensor[pieces].mean(dim=0)
        return out

    def row_sources(self, key: str, n_rows: int, have_base: bool = True) -> RowSources:
        if (key, n_rows) not in self._sources:
            vocab = self.vocabs[key]
            own: tuple[list[int], list[int]] = ([], [])
            from_base: tuple[list[int], list[int]] = ([], [])
            means: list[tuple[int, list[int]]] = []
            for j, token in enumerate(self.tokens):
                if token in vocab and vocab[token] < n_rows:
                    own[0].append(j)
                    own[1].append(vocab[token])
                elif have_base and self.base_vocab is not None and token in self.base_vocab:
                    from_base[0].append(j)
                    from_base[1].append(self.base_vocab[token])
                else:
                    pieces = [i for i in self._subtokens(key, j) if i < n_rows]
                    if pieces:
                        means.append((j, pieces))
            self._sources[(key, n_rows)] = RowSources(own, from_base, means)
        return self._sources[(key, n_rows)]

    def _subtokens(self, key: str, j: int) -> list[int]:
        text = self.tokenizer.decode([j], skip_special_tokens=False)
        if not text:
            return []
        return self.tokenizers[key].encode(text, add_special_tokens=False).ids


def plan_vocabulary(models: dict[str, InputModel], base: Optional[str], source: str,
                    pad_to_multiple_of: Optional[int] = None) -> VocabularyPlan:
    """The output vocabulary for `source` (base, union, or a model key) and each input's rows."""
    vocabs = {}
    for key, m in models.items():
        if m.vocabulary() is None:
            raise InputError(m.path, "has no tokenizer.json; aligning rows by token string needs every "
                             "input's tokenizer")
        vocabs[key] = m.vocabulary()
    owner = _owner(models, base, source)
    out_tokenizer = load_tokenizer(models[owner].tokenizer_dir)
    out_by_id = _by_id(vocabs[owner])
    if sorted(out_by_id) != list(range(len(out_by_id))):
        raise InputError(models[owner].tokenizer_dir, "the tokenizer's ids are not 0 … n−1 without gaps")
    tokens = [out_by_id[i] for i in range(len(out_by_id))]
    added: list[str] = []
    if source == "union":
        tokens, added = _union(models, vocabs, owner, tokens, out_tokenizer)
    rows = len(tokens)
    if pad_to_multiple_of:
        rows += -rows % pad_to_multiple_of
    plan = VocabularyPlan(tokens, out_tokenizer, models[owner].tokenizer_dir, added, rows,
                          vocabs.get(base) if base else None, vocabs,
                          {k: load_tokenizer(m.tokenizer_dir) for k, m in models.items()})
    log.info("output vocabulary: %d tokens from %s (%s)", len(tokens), owner, source)
    return plan


def _owner(models: dict[str, InputModel], base: Optional[str], source: str) -> str:
    if source in ("base", "union"):
        if base is None:
            raise ConfigError(f"'tokenizer.source: {source}' needs base_model")
        return base
    if source in models:
        return source
    raise ConfigError(f"'tokenizer.source': {source!r} is neither base, union nor one of the input models "
                      f"({', '.join(models)})")


def _union(models, vocabs, owner: str, tokens: list[str], out_tokenizer) -> tuple[list[str], list[str]]:
    """The base's tokens, then every other input's new tokens (in input and id order), each added
    to the output tokenizer as its text; byte fragments that decode to no text are left out."""
    tokenizers = require("tokenizers", "tokenizer", "the union vocabulary")
    seen, added, skipped = set(tokens), [], 0
    for key, vocab in vocabs.items():
        if key == owner:
            continue
        own = load_tokenizer(models[key].tokenizer_dir)
        for token, i in sorted(vocab.items(), key=lambda item: item[1]):
            if token in seen:
                continue
            seen.add(token)
            text = own.decode([i], skip_special_tokens=False)
            if not text or "\ufffd" in text or out_tokenizer.token_to_id(text) is not None:
                skipped += 1
                continue
            before = out_tokenizer.get_vocab_size(with_added_tokens=True)
            out_tokenizer.add_tokens([tokenizers.AddedToken(text, normalized=False)])
            if out_tokenizer.get_vocab_size(with_added_tokens=True) != before + 1:
                skipped += 1
                continue
            tokens.append(token)
            added.append(text)
    if skipped:
        log.info("union vocabulary: %d tokens left out (byte fragments or texts the base already has)", skipped)
    return tokens, added
