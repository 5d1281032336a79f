"""BPE trained with Hugging Face `tokenizers` on the same text stream as the SentencePiece path.

Same conventions as the SentencePiece tokenizers: "▁" for spaces (no dummy prefix), digits split,
optional NFKC, user-defined symbols never split, and byte fallback through the 256 pieces
<0x00>…<0xFF>, which sit in the vocabulary right after the special tokens and user symbols.
Morphological pre-segmentation works as in SentencePiece: the trainer's pre-tokenizer also splits
at the delimiter the segmenter inserts, and the tokenizer saved afterwards does not.
"""

from __future__ import annotations

import json
from typing import Any

from jaforge.extras import require
from jaforge.tokenizer.config import SourceConfig, TrainerConfig
from jaforge.tokenizer.hf import SPECIAL_TOKENS, WHITESPACE, add_special_tokens, pipeline_parts
from jaforge.tokenizer.sources import PRETOKENIZATION_DELIMITER, training_lines

BYTE_PIECES = [f"<0x{b:02X}>" for b in range(256)]


def _pre_tokenizer(trainer: TrainerConfig, for_training: bool) -> Any:
    from tokenizers import pre_tokenizers

    steps = []
    if for_training and trainer.pretokenize != "none":
        steps.append(pre_tokenizers.Split(PRETOKENIZATION_DELIMITER, "removed"))
    steps.append(pre_tokenizers.Metaspace(replacement=WHITESPACE, prepend_scheme="never",
                                          split=True))
    if trainer.split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    return pre_tokenizers.Sequence(steps)


def _fixed_pieces(trainer: TrainerConfig) -> list[str]:
    return list(SPECIAL_TOKENS.values()) + list(trainer.user_defined_symbols) + (
        BYTE_PIECES if trainer.byte_fallback else [])


def _untrained_parts(trainer: TrainerConfig) -> Any:
    require("tokenizers", "tokenizer", "training HF BPE tokenizers")
    from tokenizers import Tokenizer, models, normalizers

    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True,
                               byte_fallback=trainer.byte_fallback))
    if trainer.normalization == "nfkc":
        tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = _pre_tokenizer(trainer, for_training=True)
    return tok


def _as_vocabulary_pieces(tok: Any, pieces: list[str]) -> Any:
    """The trainer registers fixed pieces as added tokens; make them plain vocabulary entries."""
    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    keep = set(pieces)
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in keep]
    return Tokenizer.from_str(json.dumps(data))


def train_hf_bpe(sources: list[SourceConfig], trainer: TrainerConfig, stats: dict,
                 holdout: float = 0.0) -> Any:
    """A `tokenizers.Tokenizer` (BPE) trained on every line of `sources` (less the held-out share)."""
    from tokenizers import trainers

    tok = _untrained_parts(trainer)
    fixed = _fixed_pieces(trainer)
    alphabet_room = max(trainer.vocab_size - len(fixed), 0)
    bpe_trainer = trainers.BpeTrainer(
        vocab_size=trainer.vocab_size, special_tokens=fixed, show_progress=False,
        max_token_length=trainer.max_piece_length, initial_alphabet=[WHITESPACE],
        limit_alphabet=int(alphabet_room * trainer.character_coverage) // 2 or None)
    tok.train_from_iterator(training_lines(sources, trainer, stats, holdout), trainer=bpe_trainer)
    tok = _as_vocabulary_pieces(tok, fixed)
    tok.pre_tokenizer = _pre_tokenizer(trainer, for_training=False)
    _, tok.decoder = pipeline_parts(add_dummy_prefix=False)
    add_special_tokens(tok, list(trainer.user_defined_symbols))
    return tok
