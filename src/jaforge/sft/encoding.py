"""Examples → token ids and labels (response-only or whole-sequence loss), then training rows by
packing or padding, with truncation counted.

    encoder = TextEncoder.from_dir("runs/lifecycle-tiny/tokenizer")
    item = encode(segments, encoder, seq_len=256, loss_on="response")   # ids, labels, truncated
    rows = pack([item, …], seq_len=256, pad_id=encoder.pad_id)          # Row(ids, labels, positions, segments)

The template's text is tokenised once, whole, and each token's label is chosen by its character
offsets: a token that overlaps a response segment is a target, any other is −100 when the loss is
on responses only. The first token of every example is never a target, so a packed example is
never trained to follow the one before it.

BOS follows the tokenizer's convention (`add_bos`: whether `transformers.AutoTokenizer` adds it
when encoding a text, as generation and eval encode prompts): the templates write the BOS token's
text first exactly when it does, so a training prompt has the ids the tuned model is given later.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from jaforge.errors import InputError
from jaforge.extras import require
from jaforge.sft.templates import Segment

IGNORE_INDEX = -100


@dataclass
class TextEncoder:
    """A `tokenizers` tokenizer with its BOS/EOS/PAD tokens and its BOS convention."""
    tokenizer: object
    bos: str
    eos: str
    bos_id: Optional[int]
    eos_id: Optional[int]
    pad_id: int
    directory: Path
    add_bos: bool = False
    """Whether encoding a text adds BOS (then every example starts with it)."""

    @classmethod
    def from_dir(cls, directory: str | Path) -> "TextEncoder":
        tokenizers = require("tokenizers", "tokenizer", "SFT data")
        directory = Path(directory)
        path = directory / "tokenizer.json"
        if not path.exists():
            raise InputError(path, "not found: the tokenizer directory needs tokenizer.json")
        tok = tokenizers.Tokenizer.from_file(str(path))
        special = _special_tokens(directory)
        ids = {k: tok.token_to_id(v) if v else None for k, v in special.items()}
        pad = ids["pad"] if ids["pad"] is not None else (ids["eos"] if ids["eos"] is not None else 0)
        return cls(tok, special["bos"] if ids["bos"] is not None else "",
                   special["eos"] if ids["eos"] is not None else "", ids["bos"], ids["eos"], pad, directory,
                   adds_bos(directory, tok, ids["bos"]))

    @property
    def prompt_start(self) -> str:
        """The text every example starts with: the BOS token's when the convention adds it."""
        return self.bos if self.add_bos else ""

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def adds_bos(directory: Path, tokenizer: Any, bos_id: Optional[int]) -> bool:
    """Whether `tokenizer(text)` starts with BOS: as transformers' AutoTokenizer encodes (its
    tokenizer class may set the post-processor from add_bos_token), else as tokenizer.json's
    post-processor does."""
    if bos_id is None:
        return False
    try:
        transformers = importlib.import_module("transformers")
    except ImportError:
        ids = tokenizer.encode("a").ids
    else:
        ids = transformers.AutoTokenizer.from_pretrained(str(directory))("a")["input_ids"]
    return bool(ids) and ids[0] == bos_id


def _special_tokens(directory: Path) -> dict[str, str]:
    """bos/eos/pad token text from tokenizer_config.json / special_tokens_map.json (<s> </s> <pad>)."""
    found = {"bos": "<s>", "eos": "</s>", "pad": "<pad>"}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = directory / name
        if path.exists():
            config = json.loads(path.read_text("utf-8"))
            for key in found:
                value = config.get(f"{key}_token")
                value = value.get("content") if isinstance(value, dict) else value
                if isinstance(value, str):
                    found[key] = value
    return found


@dataclass
class Encoded:
    ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def targets(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


def response_spans(segments: list[Segment]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for segment in segments:
        if segment.response:
            spans.append((start, start + len(segment.text)))
        start += len(segment.text)
    return spans


def encode(segments: list[Segment], encoder: TextEncoder, seq_len: int,
           loss_on: Literal["response", "all"] = "response") -> Encoded:
    """Token ids and labels of one rendered example, cut to `seq_len` tokens."""
    ids, offsets = encoder.encode_with_offsets("".join(s.text for s in segments))
    spans = response_spans(segments)
    labels = []
    for token, (start, end) in zip(ids, offsets):
        in_response = any(start < s_end and end > s_start for s_start, s_end in spans)
        labels.append(token if loss_on == "all" or in_response else IGNORE_INDEX)
    if labels:
        labels[0] = IGNORE_INDEX
    truncated = len(ids) > seq_len
    return Encoded(ids[:seq_len], labels[:seq_len], truncated)


@dataclass
class Row:
    """One training sequence: a padded example, or several packed ones."""
    ids: list[int]
    labels: list[int]
    positions: list[int]
    segments: list[int]
    """1, 2, … per packed example; 0 on padding."""


def pad_rows(items: list[Encoded]) -> list[Row]:
    """One row per example (padding to the batch's longest row happens in `collate`)."""
    return [Row(e.ids, e.labels, list(range(len(e.ids))), [1] * len(e.ids)) for e in items]


def pack(items: list[Encoded], seq_len: int) -> list[Row]:
    """Fill rows of up to `seq_len` tokens with whole examples, in order."""
    rows: list[Row] = []
    current = Row([], [], [], [])
    for item in items:
        if current.ids and len(current.ids) + len(item.ids) > seq_len:
            rows.append(current)
            current = Row([], [], [], [])
        segment = (current.segments[-1] if current.segments else 0) + 1
        current.ids += item.ids
        current.labels += item.labels
        current.positions += list(range(len(item.ids)))
        current.segments += [segment] * len(item.ids)
    if current.ids:
        rows.append(current)
    return rows


def collate(rows: list[Row], pad_id: int, packed: bool, length: Optional[int] = None) -> dict:
    """Tensors of a (micro-)batch, right-padded to the longest row (or `length`). Padded rows need
    no segment ids: right padding never precedes a real token, so plain causal attention is exact."""
    import torch

    width = length or max(len(r.ids) for r in rows)

    def padded(values: list[list[int]], fill: int) -> "torch.Tensor":
        return torch.tensor([v + [fill] * (width - len(v)) for v in values], dtype=torch.long)

    batch = {"input_ids": padded([r.ids for r in rows], pad_id),
             "labels": padded([r.labels for r in rows], IGNORE_INDEX)}
    if packed:
        batch["position_ids"] = padded([r.positions for r in rows], 0)
        batch["segment_ids"] = padded([r.segments for r in rows], 0)
    return batch
