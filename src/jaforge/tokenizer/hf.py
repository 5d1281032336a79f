"""SentencePiece model → HF `tokenizers` tokenizer with the same ids; tokenizer directories.

    tok = spm_to_hf(open("tokenizer.model", "rb").read())   # tokenizers.Tokenizer
    write_tokenizer_dir(tok, "runs/tokenizer", model_proto=proto_bytes)
    tok = load_hf("runs/tokenizer")                          # dir, tokenizer.json or .model

`load_hf` is the one way every stage loads a tokenizer: a missing or corrupt file is an error
naming it.

The conversion reads the model proto (pieces, scores, types, normalizer spec) and rebuilds the
same pipeline: the model's own precompiled character map (NFKC) as normalizer, spaces → "▁"
(with the dummy prefix only if the model has one), user-defined symbols as added tokens that are
never split, and byte fallback. Unigram keeps the scores; BPE gets merges ranked by the score of
the piece they produce, which is the order in which SentencePiece applies them.
The dummy prefix is off in jaforge's own tokenizers: it makes decode(encode(x)) differ from x and
puts "▁" in front of a text that begins with a user-defined symbol, which no HF pipeline mirrors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaforge.errors import InputError, input_errors
from jaforge.extras import require
from jaforge.io.atomic import write_bytes, write_json, write_text

SPECIAL_TOKENS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>",
                  "pad_token": "<pad>"}
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
WHITESPACE = "\u2581"


def parse_model(model_proto: bytes) -> Any:
    """The SentencePiece ModelProto message of a serialized .model file."""
    require("google.protobuf", "tokenizer", "reading SentencePiece model files")
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_proto)
    return proto


def _bpe_merges(pieces: list[tuple[str, float, int]]) -> list[tuple[str, str]]:
    """Every (left, right) whose concatenation is a piece, in SentencePiece's merge order."""
    ids = {p: i for i, (p, _, kind) in enumerate(pieces) if kind in (NORMAL, USER_DEFINED)}
    ranked = []
    for piece, score, kind in pieces:
        if kind != NORMAL or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in ids and right in ids:
                ranked.append((-score, ids[piece], ids[left], ids[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _model(proto: Any) -> Any:
    models = require("tokenizers.models", "tokenizer", "converting SentencePiece models")
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    byte_fallback = proto.trainer_spec.byte_fallback
    unk_id = next(i for i, (_, _, kind) in enumerate(pieces) if kind == UNKNOWN)
    if proto.trainer_spec.model_type == 1:  # UNIGRAM
        return models.Unigram([(p, s) for p, s, _ in pieces], unk_id, byte_fallback)
    if proto.trainer_spec.model_type == 2:  # BPE
        vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
        return models.BPE(vocab, _bpe_merges(pieces), unk_token=pieces[unk_id][0],
                          fuse_unk=True, byte_fallback=byte_fallback)
    raise ValueError(f"SentencePiece model type {proto.trainer_spec.model_type} is not "
                     f"supported (unigram and bpe are)")


def _normalizer(spec: Any) -> Any:
    normalizers = require("tokenizers.normalizers", "tokenizer", "converting SentencePiece models")
    from tokenizers import Regex

    steps = []
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Strip(left=True, right=True),
                  normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps) if steps else None


def pipeline_parts(add_dummy_prefix: bool) -> tuple[Any, Any]:
    """(pre-tokenizer, decoder) for SentencePiece-style "▁" whitespace and byte fallback."""
    require("tokenizers", "tokenizer", "building HF tokenizers")
    from tokenizers import decoders, pre_tokenizers

    scheme = "first" if add_dummy_prefix else "never"
    pre = pre_tokenizers.Metaspace(replacement=WHITESPACE, prepend_scheme=scheme, split=False)
    steps = [decoders.Replace(WHITESPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_dummy_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    return pre, decoders.Sequence(steps)


def add_special_tokens(tok: Any, user_symbols: list[str], bos: str = "<s>") -> None:
    """Register specials and user-defined symbols (never split, never normalized); prepend <s>."""
    from tokenizers import AddedToken, processors

    specials = [t for t in SPECIAL_TOKENS.values() if tok.token_to_id(t) is not None]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in user_symbols])
    bos_id = tok.token_to_id(bos)
    if bos_id is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)])


def spm_to_hf(model_proto: bytes) -> Any:
    """A `tokenizers.Tokenizer` that gives the same ids as the SentencePiece model."""
    from tokenizers import Tokenizer

    proto = parse_model(model_proto)
    tok = Tokenizer(_model(proto))
    normalizer = _normalizer(proto.normalizer_spec)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer, tok.decoder = pipeline_parts(proto.normalizer_spec.add_dummy_prefix)
    add_special_tokens(tok, [p.piece for p in proto.pieces if p.type == USER_DEFINED])
    return tok


def tokenizer_config(tok: Any, model_max_length: int) -> dict[str, Any]:
    """tokenizer_config.json for `PreTrainedTokenizerFast` (specials the vocabulary has)."""
    present = {k: v for k, v in SPECIAL_TOKENS.items() if tok.token_to_id(v) is not None}
    return {"tokenizer_class": "PreTrainedTokenizerFast", **present,
            "model_max_length": model_max_length, "clean_up_tokenization_spaces": False,
            "add_prefix_space": False, "add_bos_token": tok.post_processor is not None,
            "add_eos_token": False}


def write_tokenizer_dir(tok: Any, out: str | Path, model_max_length: int = 2048,
                        model_proto: bytes | None = None) -> Path:
    """tokenizer.json + tokenizer_config.json + special_tokens_map.json (+ tokenizer.model)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "tokenizer.json", tok.to_str(pretty=True))
    config = tokenizer_config(tok, model_max_length)
    write_json(out / "tokenizer_config.json", config)
    write_json(out / "special_tokens_map.json", {k: v for k, v in config.items() if k in SPECIAL_TOKENS})
    if model_proto is not None:
        write_bytes(out / "tokenizer.model", model_proto)
    return out


def load_hf(path: str | Path) -> Any:
    """A `tokenizers.Tokenizer` from a tokenizer dir, a tokenizer.json or a SentencePiece .model."""
    tokenizers = require("tokenizers", "tokenizer", "loading tokenizers")
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise InputError(path, "not found (expected a tokenizer directory, a tokenizer.json or a "
                               "SentencePiece .model)")
    if path.suffix == ".model":
        with input_errors(path, "a SentencePiece model"):
            return spm_to_hf(path.read_bytes())
    with input_errors(path, "a Hugging Face tokenizer.json"):
        return tokenizers.Tokenizer.from_file(str(path))
