"""Train a tokenizer on every document of the corpus shards: SentencePiece unigram/BPE or HF BPE.

    jaforge tokenizer --config recipes/tokenizer-tiny.yaml

SentencePiece reads the text through `sentence_iterator` (no temporary text file, no sampling:
`input_sentence_size` stays 0, so every line is used). The dummy prefix and whitespace squeezing
are off so that decode(encode(x)) == x; special tokens sit at the ids every jaforge stage
expects: <unk> 0, <s> 1, </s> 2, <pad> 3.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any, Iterator

from jaforge.errors import ConfigError
from jaforge.extras import require
from jaforge.tokenizer.config import SourceConfig, TrainerConfig
from jaforge.tokenizer.hf import NORMAL, parse_model, spm_to_hf
from jaforge.tokenizer.hf_bpe import train_hf_bpe
from jaforge.tokenizer.sources import PRETOKENIZATION_DELIMITER, training_lines

log = logging.getLogger(__name__)

WHITESPACE = "\u2581"  # escaped space: always a piece, else spaces decode as "▁" via bytes
SCORE_STEP = 1 / 16  # unigram scores are rounded to multiples of this (see quantize_scores)
SPECIAL_IDS = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": 3}


def spm_arguments(trainer: TrainerConfig) -> dict[str, Any]:
    """SentencePieceTrainer.train keyword arguments for `trainer` (text comes separately)."""
    arguments = dict(
        model_type=trainer.algorithm, vocab_size=trainer.vocab_size,
        byte_fallback=trainer.byte_fallback, split_digits=trainer.split_digits,
        normalization_rule_name=trainer.normalization, add_dummy_prefix=False,
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        max_sentencepiece_length=trainer.max_piece_length,
        user_defined_symbols=list(trainer.user_defined_symbols),
        character_coverage=trainer.character_coverage,
        max_sentence_length=4 * trainer.max_sentence_bytes,  # room for pre-segmentation marks
        num_threads=trainer.num_threads, seed_sentencepiece_size=trainer.seed_sentencepiece_size,
        required_chars=WHITESPACE, input_sentence_size=0, minloglevel=2, **SPECIAL_IDS)
    if trainer.pretokenize != "none":
        arguments["pretokenization_delimiter"] = PRETOKENIZATION_DELIMITER
    return arguments


def quantize_scores(model_proto: bytes) -> bytes:
    """Round the unigram scores to multiples of SCORE_STEP.

    SentencePiece sums path scores in float32, `tokenizers` in float64. Segmentations made of the
    same pieces in another order (runs of spaces, "=====") score equal in exact arithmetic, and
    the rounding of float32 then picks one path or the other. With scores on a 1/16 grid every
    partial sum below 2^20 is exact in both, the tie is a real tie, and both libraries break it
    the same way (the earliest-starting last piece), so their ids agree."""
    proto = parse_model(model_proto)
    if proto.trainer_spec.model_type != 1:
        return model_proto
    for piece in proto.pieces:
        if piece.type == NORMAL:
            piece.score = round(piece.score / SCORE_STEP) * SCORE_STEP
    return proto.SerializeToString()


def train_sentencepiece(sources: list[SourceConfig], trainer: TrainerConfig,
                        stats: dict | None = None, holdout: float = 0.0) -> bytes:
    """The serialized SentencePiece model trained on every line of `sources`."""
    spm = require("sentencepiece", "tokenizer", "training SentencePiece tokenizers")
    model = io.BytesIO()
    lines = GuardedLines(training_lines(sources, trainer, stats, holdout))
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=lines, model_writer=model,
                                       **spm_arguments(trainer))
    except RuntimeError as err:
        lines.reraise()
        raise _sentencepiece_error(err, trainer) from None
    lines.reraise()
    return quantize_scores(model.getvalue())


class GuardedLines:
    """An iterator SentencePiece reads from C++, which turns any exception raised inside it into
    "RuntimeError: INTERNAL: …": keep the original (an input error naming its file) to re-raise."""

    def __init__(self, lines: Iterator[str]):
        self.lines, self.error = lines, None

    def __iter__(self) -> "GuardedLines":
        return self

    def __next__(self) -> str:
        try:
            return next(self.lines)
        except StopIteration:
            raise
        except Exception as err:  # noqa: BLE001 — re-raised by reraise()
            self.error = err
            raise StopIteration from None

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


def _sentencepiece_error(err: RuntimeError, trainer: TrainerConfig) -> Exception:
    """SentencePiece's C++ check failures, said in terms of the config keys that cause them."""
    detail = str(err).split("]")[-1].strip() or str(err)
    if "required_chars" in str(err) or "Vocabulary size" in str(err) or "vocab_size" in str(err):
        return ConfigError(f"'trainer.vocab_size': {trainer.vocab_size} is too small for this "
                           f"corpus and these settings (SentencePiece: {detail})")
    if "no sentences" in str(err).lower() or "empty" in str(err).lower():
        return ConfigError(f"'sources': no training text was read ({detail})")
    return err


def train(sources: list[SourceConfig], trainer: TrainerConfig, holdout: float = 0.0
          ) -> tuple[Any, bytes | None, dict]:
    """(HF tokenizer, SentencePiece model bytes or None, statistics) trained on `sources`
    (without the held-out share, when `holdout` > 0)."""
    stats: dict[str, Any] = {"sources": {}}
    start = time.perf_counter()
    if trainer.algorithm == "hf_bpe":
        tok, proto = train_hf_bpe(sources, trainer, stats["sources"], holdout), None
    else:
        proto = train_sentencepiece(sources, trainer, stats["sources"], holdout)
        tok = spm_to_hf(proto)
    stats["train_seconds"] = round(time.perf_counter() - start, 3)
    stats["vocab_size"] = tok.get_vocab_size()
    log.info("trained %s tokenizer: %d pieces in %.1f s", trainer.algorithm,
             stats["vocab_size"], stats["train_seconds"])
    return tok, proto, stats
