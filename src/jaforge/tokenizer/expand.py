"""Add Japanese pieces to an existing tokenizer, keeping every old id: `jaforge tokenizer-expand`.

    jaforge tokenizer-expand --base_tokenizer path/to/base --num_new_tokens 10000 \
        --sources '[{paths: [runs/corpus]}]' --output_dir runs/tokenizer-expand

As Swallow did for Llama 2: learn a vocabulary on the Japanese corpus (SentencePiece, every
document), keep the pieces made only of Japanese characters (kana, kanji, CJK punctuation and
full-width forms) that the base lacks, best first, and
append them with new ids after the base's last id. Characters the base lacks count as pieces
too (without them a BPE base byte-falls back and no merge can reach the longer pieces). A Unigram
base takes each piece with its learned score; a BPE base gets one merge per longer piece,
appended after the base's merges, built from the two tokens the base plus the earlier new merges
leave for that piece (a piece that would need more than one new merge waits until shorter new
pieces make it reachable). A SentencePiece .model base (or a directory holding one) is expanded
in its own proto and written as tokenizer.model too, so both files keep agreeing.

Writes the tokenizer dir plus expansion.json ({"base_vocab_size", "new_tokens": [{"id", "piece",
"old_ids"}]}, old_ids being the piece's decomposition by the base model, from which the trainer
initialises new embedding rows) and expand_stats.json (Japanese chars/token before and after).
"""

from __future__ import annotations

import json
import logging
import shutil
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from jaforge.errors import ConfigError, input_errors
from jaforge.io.atomic import write_json
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.tokenizer.config import ExpandConfig
from jaforge.tokenizer.hf import load_hf, parse_model, spm_to_hf, write_tokenizer_dir
from jaforge.tokenizer.measure import measure
from jaforge.tokenizer.train import train_sentencepiece

log = logging.getLogger(__name__)

JAPANESE_MARKS = set("ー々〆ヶゝゞヽヾ")


# CJK symbols and punctuation (、。「」〜 …) and the full-width / half-width forms (：！（）ｱ …):
# Japanese text is full of them, and a base that lacks them byte-falls back on every one.
JAPANESE_PUNCTUATION_BLOCKS = ((0x3000, 0x303F), (0xFF00, 0xFFEF))


def is_japanese(piece: str) -> bool:
    """True when every character is hiragana, katakana, a CJK ideograph, a Japanese mark, CJK
    punctuation or a full-width form (the ideographic space U+3000 excepted)."""
    for char in piece:
        name = unicodedata.name(char, "")
        punctuation = any(lo <= ord(char) <= hi for lo, hi in JAPANESE_PUNCTUATION_BLOCKS)
        if char == "\u3000" or not (char in JAPANESE_MARKS or punctuation or name.startswith(
                ("HIRAGANA", "KATAKANA", "CJK UNIFIED"))):
            return False
    return bool(piece)


def byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte → printable character map (bytes that print stand for themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def uses_byte_level(data: dict) -> bool:
    """Whether a tokenizer.json's pre-tokenizer or decoder is GPT-2's ByteLevel."""
    return "ByteLevel" in json.dumps([data.get("pre_tokenizer"), data.get("decoder")])


def candidates(cfg: ExpandConfig) -> list[tuple[str, float]]:
    """(piece, score), best first, from a SentencePiece vocabulary trained on the corpus."""
    size = cfg.candidate_vocab_size or 3 * cfg.num_new_tokens
    algorithm = cfg.trainer.algorithm if cfg.trainer.algorithm != "hf_bpe" else "unigram"
    proto = parse_model(train_sentencepiece(
        cfg.sources, replace(cfg.trainer, vocab_size=size, algorithm=algorithm)))
    pieces = [(p.piece, p.score) for p in proto.pieces if p.type == 1]
    pieces = [(p, s) for p, s in pieces if len(p) >= cfg.min_piece_chars and is_japanese(p)]
    return sorted(pieces, key=lambda ps: -ps[1])


def apply_merges(tokens: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """BPE on a token list with the given merge ranks (lowest rank first, leftmost on ties)."""
    while len(tokens) > 1:
        pairs = [(ranks.get((a, b), -1), i) for i, (a, b) in enumerate(zip(tokens, tokens[1:]))]
        applicable = [(r, i) for r, i in pairs if r >= 0]
        if not applicable:
            break
        _, i = min(applicable)
        tokens = tokens[:i] + [tokens[i] + tokens[i + 1]] + tokens[i + 2:]
    return tokens


def symbols_before_new_merges(model: Any, piece: str, added_chars: set[str]) -> list[str]:
    """The tokens the base merges leave for `piece`, where characters added as new pieces
    stand alone (no base merge involves them)."""
    tokens, segment = [], ""
    for char in piece:
        if char in added_chars:
            tokens += [t.value for t in model.tokenize(segment)] if segment else []
            tokens.append(char)
            segment = ""
        else:
            segment += char
    return tokens + ([t.value for t in model.tokenize(segment)] if segment else [])


def choose_bpe_pieces(model: Any, wanted: list[tuple[str, float]], vocab: dict[str, int],
                      limit: int) -> list[tuple[str, float, tuple[str, str] | None]]:
    """Missing characters (no merge needed) and pieces one appended merge away, in passes."""
    chosen, ranks, added_chars = [], {}, set()
    pending = [(p, s) for p, s in wanted if p not in vocab]
    progress = True
    while pending and progress and len(chosen) < limit:
        progress, waiting = False, []
        for piece, score in pending:
            if len(chosen) >= limit:
                break
            tokens = apply_merges(symbols_before_new_merges(model, piece, added_chars), ranks)
            if len(piece) == 1:
                chosen.append((piece, score, None))
                added_chars.add(piece)
            elif len(tokens) == 2:
                ranks[(tokens[0], tokens[1])] = len(ranks)
                chosen.append((piece, score, (tokens[0], tokens[1])))
            else:
                waiting.append((piece, score))
                continue
            vocab[piece] = -1
            progress = True
        pending = waiting
    return chosen


def base_representation(data: dict) -> Any:
    """Piece text → how the base's vocabulary spells it (byte-level bases remap bytes)."""
    if not uses_byte_level(data):
        return lambda text: text
    alphabet = byte_level_alphabet()
    return lambda text: "".join(alphabet[b] for b in text.encode("utf-8"))


def next_free_id(tok: Any, data: dict) -> int:
    """The first id after the base's vocabulary and added tokens; Unigram must append in place."""
    base_size = tok.get_vocab_size(with_added_tokens=True)
    last_added = max((t["id"] for t in data.get("added_tokens", [])), default=-1)
    if data["model"]["type"] == "Unigram" and len(data["model"]["vocab"]) <= last_added:
        raise ValueError("the base has added tokens after its Unigram vocabulary; "
                         "new pieces cannot get ids after them")
    return max(base_size, last_added + 1)


def select_pieces(tok: Any, data: dict, wanted: list[tuple[str, float]], limit: int
                  ) -> list[tuple[str, float, tuple[str, str] | None]]:
    """(piece as the base spells it, score, merge or None) for the pieces to add."""
    spell = base_representation(data)
    vocab = dict(tok.get_vocab(with_added_tokens=True))
    wanted = [(spell(p), s) for p, s in wanted]
    kind = data["model"]["type"]
    if kind == "BPE":
        return choose_bpe_pieces(tok.model, wanted, vocab, limit)
    if kind == "Unigram":
        fresh = [(p, s, None) for p, s in dict(wanted).items() if p not in vocab]
        return fresh[:limit]
    raise ValueError(f"cannot expand a {kind} tokenizer (BPE and Unigram can be)")


def expanded_hf(data: dict, chosen: list, first_id: int) -> Any:
    """The base tokenizer.json with the chosen pieces (and merges) appended."""
    from tokenizers import Tokenizer

    model = data["model"]
    for offset, (piece, score, merge) in enumerate(chosen):
        if model["type"] == "Unigram":
            model["vocab"].append([piece, score])
        else:
            model["vocab"][piece] = first_id + offset
            if merge is None:  # a character: an initial symbol, no merge makes it
                continue
            pair = list(merge)
            model["merges"].append(pair if model["merges"] and isinstance(model["merges"][0], list)
                                   else " ".join(pair))
    return Tokenizer.from_str(json.dumps(data, ensure_ascii=False))


def expanded_spm(proto: Any, chosen: list) -> bytes:
    """The base SentencePiece model with the chosen pieces appended (BPE: after every merge)."""
    lowest = min(p.score for p in proto.pieces)
    for offset, (piece, score, _) in enumerate(chosen):
        new = proto.pieces.add()
        new.piece = piece
        new.score = score if proto.trainer_spec.model_type == 1 else lowest - 1 - offset
    return proto.SerializeToString()


def load_base(base: str) -> tuple[Any, bytes | None, Path | None]:
    """(HF tokenizer, SentencePiece proto or None, folder holding the base's configs or None).

    A directory with a tokenizer.model is expanded through the SentencePiece model, so that the
    new directory's tokenizer.model and tokenizer.json agree."""
    path = Path(base)
    folder = path if path.is_dir() else None
    if path.is_dir() and (path / "tokenizer.model").exists():
        path = path / "tokenizer.model"
    if path.suffix == ".model":
        proto = path.read_bytes() if path.is_file() else b""
        with input_errors(path, "a SentencePiece model"):
            return spm_to_hf(proto), proto, folder
    return load_hf(path), None, folder if folder else path.parent


def check_old_ids(base: Any, expanded: Any) -> None:
    """Fail loudly if any base piece moved (the trainer's embedding rows rely on it)."""
    new_vocab = expanded.get_vocab(with_added_tokens=True)
    moved = [p for p, i in base.get_vocab(with_added_tokens=True).items() if new_vocab.get(p) != i]
    if moved:
        raise RuntimeError(f"{len(moved)} base pieces changed id, e.g. {moved[:5]}")


def expansion_record(base: Any, expanded: Any, chosen: list, first_id: int) -> dict[str, Any]:
    """expansion.json: each new piece with its id and its decomposition by the base model."""
    new_tokens = []
    for piece, _, _ in chosen:
        new_tokens.append({"id": expanded.token_to_id(piece), "piece": piece,
                           "old_ids": [t.id for t in base.model.tokenize(piece)]})
    return {"base_vocab_size": first_id, "new_tokens": new_tokens}


def japanese_gain(base: Any, expanded: Any, cfg: ExpandConfig) -> dict[str, Any]:
    """Japanese characters per token with the base and the expanded tokenizer, on the corpus."""
    before = measure(base, cfg.sources, morphology=False)
    after = measure(expanded, cfg.sources, morphology=False)
    return {"base_chars_per_token": before["chars_per_token"],
            "expanded_chars_per_token": after["chars_per_token"],
            "chars_per_token_gain": after["chars_per_token"] / before["chars_per_token"] - 1,
            "base_tokens": before["tokens"], "expanded_tokens": after["tokens"]}


def expand_summary(stats: dict[str, Any]) -> str:
    return (f"added {stats['added']} of {stats['requested']} requested Japanese pieces\n\n"
            "| tokenizer | tokens | Japanese chars/token |\n|---|---|---|\n"
            f"| base | {stats['base_tokens']} | {stats['base_chars_per_token']:.4f} |\n"
            f"| expanded | {stats['expanded_tokens']} | {stats['expanded_chars_per_token']:.4f} |\n"
            f"\ngain: {100 * stats['chars_per_token_gain']:+.1f} % characters per token\n")


def run(cfg: ExpandConfig) -> StageResult:
    """Expand `cfg.base_tokenizer` with Japanese pieces; writes the new tokenizer dir and expansion.json."""
    if not cfg.base_tokenizer:
        raise ConfigError("'base_tokenizer': set it to the tokenizer to expand")
    base, proto, folder = load_base(cfg.base_tokenizer)
    with open_run(cfg.output_dir, "tokenizer-expand", cfg) as out:
        data = json.loads(base.to_str())
        first_id = next_free_id(base, data)
        chosen = select_pieces(base, data, candidates(cfg), cfg.num_new_tokens)
        new_proto = expanded_spm(parse_model(proto), chosen) if proto is not None else None
        if new_proto is not None:
            expanded = spm_to_hf(new_proto)
        else:
            expanded = expanded_hf(data, chosen, first_id)
        check_old_ids(base, expanded)
        write_tokenizer_dir(expanded, out, cfg.trainer.model_max_length, new_proto)
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            if folder is not None and (folder / name).exists():
                shutil.copyfile(folder / name, out / name)
        write_json(out / "expansion.json", expansion_record(base, expanded, chosen, first_id))
        stats = {"requested": cfg.num_new_tokens, "added": len(chosen),
                 **japanese_gain(base, expanded, cfg)}
        write_json(out / "expand_stats.json", stats)
    return StageResult("tokenizer-expand", str(out),
                       {"tokenizer": str(out), "expansion": str(out / "expansion.json")},
                       stats, expand_summary(stats))
