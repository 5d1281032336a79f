"""Characters per token of a token dataset's validation split, to compare losses across tokenizers.

    chars_per_token("runs/tokens-tiny/ja")     # 1.9 → a loss of 3.8 nats/token is 2.0 nats/char

A loss per token rewards large vocabularies (each token carries more text), so the vocabulary
study compares loss per character: loss / (characters per token). tokenize-data's meta.json may
record `splits.val.chars`; otherwise the validation documents are decoded with the tokenizer named
in meta.json and their characters counted (the end-of-document token counts as a token, not a
character, as it does in the loss). Token directories are only read, never written.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from jaforge.tokenizer import load_hf


@lru_cache(maxsize=64)
def chars_per_token(token_dir: str, split: str = "val") -> float:
    directory = Path(token_dir)
    meta_path = directory / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{directory}: no meta.json; is it a tokenize-data output?")
    meta = json.loads(meta_path.read_text("utf-8"))
    recorded = meta.get("splits", {}).get(split, {})
    if recorded.get("chars") and recorded.get("tokens"):
        return recorded["chars"] / recorded["tokens"]
    return _decode_and_count(directory, meta, split)


def _decode_and_count(directory: Path, meta: dict, split: str) -> float:
    tokenizer_path = meta.get("tokenizer")
    if not tokenizer_path or not Path(tokenizer_path).exists():
        raise FileNotFoundError(f"{directory / 'meta.json'}: its tokenizer {tokenizer_path!r} is "
                                f"missing, so characters per token cannot be measured")
    tokenizer = load_hf(tokenizer_path)
    count = meta["splits"][split]["tokens"]
    tokens = np.fromfile(directory / f"{split}.bin", dtype=meta["dtype"], count=count)
    offsets = np.load(directory / f"{split}.idx.npy")
    eos = meta.get("eos_id")
    docs = [[int(t) for t in tokens[offsets[i]:offsets[i + 1]] if t != eos]
            for i in range(len(offsets) - 1)]
    chars = sum(len(text) for text in tokenizer.decode_batch(docs, skip_special_tokens=True))
    if not count or not chars:
        raise ValueError(f"{directory}: the {split} split is empty")
    return chars / count
