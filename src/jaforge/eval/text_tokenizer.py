"""The tokenizer the eval stage encodes with, as lm-evaluation-harness's `hf` model encodes:
special tokens as the tokenizer adds them by default (BOS for Llama-style tokenizers), none when
the text already starts with the BOS string; the model's chat template when it has one.

    from jaforge.eval.text_tokenizer import TextTokenizer
    tok = TextTokenizer(Path("runs/lifecycle-tiny/hf"))
    tok.encode("前提：…"), tok.decode(ids), tok.chat_prompt("質問")

The tokenizer is read with transformers when it is installed (so its BOS/EOS settings and chat
template apply) and encoded through its Rust backend; without transformers, tokenizer.json is
read with `tokenizers` and its post-processor decides the special tokens. A missing, truncated or
garbled file fails naming it (`model_file_errors`, shared with the model loaders).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional, Sequence

from jaforge.errors import InputError, JaforgeError
from jaforge.extras import require


@contextlib.contextmanager
def model_file_errors(path: Path, what: str) -> Iterator[None]:
    """Any failure of the library reading `path` becomes one InputError naming it: safetensors
    and tokenizers raise plain `Exception`s for truncated or garbled files."""
    try:
        yield
    except (JaforgeError, MemoryError):
        raise
    except FileNotFoundError:
        raise InputError(path, f"not found (expected {what})") from None
    except Exception as err:  # noqa: BLE001 — the block only reads this one file
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(path, f"cannot be read as {what}: {detail[:300]}") from None


class TextTokenizer:
    """Encode/decode with the tokenizer's default special tokens (BOS as it adds it)."""

    def __init__(self, directory: Path):
        path = directory if directory.is_file() else directory / "tokenizer.json"
        if not path.exists():
            raise InputError(path, "not found (expected the model's tokenizer.json; eval config key 'tokenizer')")
        self.hf = None
        with model_file_errors(path, "a tokenizer.json"):
            try:
                transformers = require("transformers", "hf", "reading the tokenizer")
            except ImportError:
                transformers = None
            if transformers is not None:
                self.hf = transformers.AutoTokenizer.from_pretrained(str(path.parent))
                self.rust = self.hf.backend_tokenizer
                self.bos_id, self.eos_id = self.hf.bos_token_id, self.hf.eos_token_id
            else:
                self.rust = require("tokenizers", "tokenizer", "reading tokenizer.json").Tokenizer.from_file(str(path))
                self.bos_id, self.eos_id = self.rust.token_to_id("<s>"), self.rust.token_to_id("</s>")
        self.bos_text = self.decode([self.bos_id], skip_special_tokens=False) \
            if self.bos_id is not None else None

    def encode_batch(self, texts: Sequence[str], add_special_tokens: Optional[bool] = None
                     ) -> list[list[int]]:
        """Token ids of each text; special tokens by default unless the text starts with BOS."""
        if add_special_tokens is not None:
            return [e.ids for e in self.rust.encode_batch(list(texts), add_special_tokens=add_special_tokens)]
        plain = [bool(self.bos_text) and t.startswith(self.bos_text) for t in texts]
        if not any(plain):
            return [e.ids for e in self.rust.encode_batch(list(texts), add_special_tokens=True)]
        return [self.rust.encode(t, add_special_tokens=not p).ids for t, p in zip(texts, plain)]

    def encode(self, text: str, add_special_tokens: Optional[bool] = None) -> list[int]:
        return self.encode_batch([text], add_special_tokens)[0]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        if self.hf is not None:
            return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)
        return self.rust.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def chat_prompt(self, user_message: str) -> str:
        """The message through the tokenizer's chat template (with the assistant's turn opened),
        or the message itself when the tokenizer has no template."""
        if self.hf is None or not getattr(self.hf, "chat_template", None):
            return user_message
        return self.hf.apply_chat_template([{"role": "user", "content": user_message}],
                                           add_generation_prompt=True, tokenize=False)
