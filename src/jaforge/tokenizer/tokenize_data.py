"""The tokenize-data stage: corpus shards → token shards the trainer memory-maps.

    jaforge tokenize-data --input '[runs/corpus/data]' --tokenizer runs/tokenizer --output_dir runs/tokens

Writes into `output_dir`: `train.bin` / `val.bin` (every document's token ids — BOS first when the
tokenizer adds one, EOS last — as one flat uint16 array, or uint32 when the vocabulary exceeds
65,536), `train.idx.npy` / `val.idx.npy` (int64 document start offsets, one more than the
documents: doc i is bin[idx[i]:idx[i+1]]), `meta.json` (vocab size, dtype, BOS/EOS ids and whether
documents start with BOS, documents, tokens and characters per split; written last, so its
presence marks a finished run) and `config.yaml`. Inputs and the tokenizer are checked before
anything in `output_dir` changes. The BOS convention is the tokenizer's (`add_bos_token` in its
tokenizer_config.json; jaforge's tokenizers add `<s>`), so training sees what generation and
evaluation feed the model. The validation split is held out by document: a document goes to validation when
a seeded hash of its id falls under `val_fraction`, so the split does not depend on file order or on
how many workers encode. Files are encoded in parallel (one process per file, batched
`Tokenizer.encode_batch` inside) and concatenated in sorted file order.
"""

from __future__ import annotations

import glob
import hashlib
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
from annotated_types import Ge, Lt, MinLen

from jaforge.io.readers import InputConfig
from jaforge.io.readers import FORMAT_BY_SUFFIX, read_documents
from jaforge.io.skips import SkipLog
from jaforge.errors import ConfigError, InputError
from jaforge.io.atomic import write_json
from jaforge.paths import InputPath
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.tokenizer.hf import load_hf

SPLITS = ("train", "val")


@dataclass
class TokenizeDataConfig:
    input: Annotated[list[InputPath], MinLen(1)] = field(default_factory=lambda: ["runs/corpus/data"])
    """Corpus shards: files, folders (their *.jsonl[.gz|.zst] and *.parquet files) or globs."""
    tokenizer: InputPath = "runs/tokenizer"
    """A tokenizer directory holding tokenizer.json (or the tokenizer.json file itself)."""
    output_dir: str = "runs/tokens"
    """Where train.bin, val.bin, their .idx.npy, meta.json and config.yaml go."""
    text_field: str = "text"
    id_field: str = "id"
    val_fraction: Annotated[float, Ge(0), Lt(1)] = 0.01
    """Share of documents held out for validation (chosen by a seeded hash of the document id)."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of the validation split."""
    add_bos: Optional[bool] = None
    """Start every document with the tokenizer's BOS token; None: as the tokenizer's
    tokenizer_config.json says (`add_bos_token`), which is how generation and eval encode."""
    eos_token: str = "</s>"
    """Token appended after every document (jaforge tokenizers: `</s>`, id 2)."""
    batch_size: Annotated[int, Ge(1)] = 256
    """Documents per encode_batch call."""
    workers: Annotated[int, Ge(1)] = 1
    """Processes encoding files in parallel."""


def input_files(patterns: list[str]) -> list[Path]:
    """Every shard named by the patterns, sorted and without repeats."""
    files: set[Path] = set()
    for pattern in patterns:
        for hit in sorted(glob.glob(pattern)) or [pattern]:
            path = Path(hit)
            if path.is_dir():
                files |= {p for p in path.rglob("*") if p.is_file() and _is_shard(p, FORMAT_BY_SUFFIX)}
            elif path.is_file():
                files.add(path)
            else:
                raise InputError(pattern, "not found (expected corpus shards: files, folders or globs)")
    if not files:
        raise InputError(", ".join(patterns), "no JSONL or Parquet shards found there")
    return sorted(files)


def _is_shard(path: Path, formats: dict[str, str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s, fmt in formats.items() if fmt in ("jsonl", "parquet"))


def is_validation(doc_id: str, seed: int, val_fraction: float) -> bool:
    """Whether a document is held out: its seeded hash, read as a number in [0, 1), < val_fraction."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < val_fraction


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def load_tokenizer(path: str):
    """The tokenizer (one loader for every stage: `jaforge.tokenizer.load_hf`)."""
    return load_hf(path)


def bos_convention(cfg: TokenizeDataConfig, tokenizer: Any) -> Optional[int]:
    """The BOS id to put at every document start, or None (see `add_bos`)."""
    add = cfg.add_bos
    if add is None:
        config = Path(cfg.tokenizer) / "tokenizer_config.json"
        add = bool(json.loads(config.read_text("utf-8")).get("add_bos_token", False)) \
            if config.exists() else tokenizer.post_processor is not None
    if not add:
        return None
    bos = tokenizer.token_to_id("<s>")
    if bos is None:
        raise ConfigError("'add_bos': the tokenizer has no <s> token to start documents with")
    return bos


def _documents(path: Path, cfg: TokenizeDataConfig):
    reader_cfg = InputConfig(text_field=cfg.text_field, id_field=cfg.id_field, metadata_fields=[])
    yield from read_documents(path, reader_cfg, SkipLog())


def encode_file(job: tuple[int, str, str, TokenizeDataConfig]) -> dict:
    """Encode one shard into `<work>/<index>.<split>.npy` token and length arrays; returns counts."""
    index, path, work, cfg = job
    tokenizer = load_tokenizer(cfg.tokenizer)
    eos = tokenizer.token_to_id(cfg.eos_token)
    head = [] if (bos := bos_convention(cfg, tokenizer)) is None else [bos]
    dtype = token_dtype(tokenizer.get_vocab_size())
    parts = {s: ([], []) for s in SPLITS}  # split → (token arrays, document lengths)
    chars = {s: 0 for s in SPLITS}
    batch: list = []

    def flush():
        encodings = tokenizer.encode_batch([d.text for d in batch], add_special_tokens=False)
        for doc, enc in zip(batch, encodings):
            ids = head + enc.ids + ([eos] if eos is not None else [])
            split = "val" if is_validation(doc.id, cfg.seed, cfg.val_fraction) else "train"
            tokens, lengths = parts[split]
            tokens.append(np.asarray(ids, dtype=dtype))
            lengths.append(len(ids))
            chars[split] += len(doc.text)
        batch.clear()

    for doc in _documents(Path(path), cfg):
        batch.append(doc)
        if len(batch) >= cfg.batch_size:
            flush()
    if batch:
        flush()
    for split, (tokens, lengths) in parts.items():
        flat = np.concatenate(tokens) if tokens else np.zeros(0, dtype=dtype)
        np.save(Path(work) / f"{index}.{split}.tokens.npy", flat)
        np.save(Path(work) / f"{index}.{split}.lengths.npy", np.asarray(lengths, dtype=np.int64))
    write_json(Path(work) / f"{index}.chars.json", chars, indent=None)
    return {s: (len(parts[s][1]), int(sum(parts[s][1]))) for s in SPLITS}


def _encode_all(files: list[Path], work: Path, cfg: TokenizeDataConfig) -> None:
    jobs = [(i, str(f), str(work), cfg) for i, f in enumerate(files)]
    if cfg.workers <= 1 or len(files) == 1:
        for job in jobs:
            encode_file(job)
        return
    # fork is safe: the parent has only loaded the tokenizer, never started its thread pool
    with multiprocessing.get_context("fork").Pool(min(cfg.workers, len(files))) as pool:
        for _ in pool.imap_unordered(encode_file, jobs):
            pass


def _concatenate(n_files: int, work: Path, out: Path, split: str) -> dict:
    """Append each file's tokens to `<split>.bin` in file order and write the document offsets."""
    lengths = [np.load(work / f"{i}.{split}.lengths.npy") for i in range(n_files)]
    offsets = np.zeros(sum(len(x) for x in lengths) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths) if lengths else [], out=offsets[1:])
    tmp_bin = out / f".{split}.bin.tmp"
    with open(tmp_bin, "wb") as f:
        for i in range(n_files):
            np.load(work / f"{i}.{split}.tokens.npy").tofile(f)
    tmp_idx = out / f".{split}.idx.tmp.npy"
    np.save(tmp_idx, offsets)
    tmp_bin.replace(out / f"{split}.bin")
    tmp_idx.replace(out / f"{split}.idx.npy")
    chars = sum(json.loads((work / f"{i}.chars.json").read_text("utf-8"))[split] for i in range(n_files))
    return {"documents": len(offsets) - 1, "tokens": int(offsets[-1]), "chars": chars}


def run(cfg: TokenizeDataConfig) -> StageResult:
    """Tokenize every input document into token shards."""
    tokenizer = load_tokenizer(cfg.tokenizer)
    eos = tokenizer.token_to_id(cfg.eos_token)
    if eos is None:
        raise ConfigError(f"'eos_token': the tokenizer has no token '{cfg.eos_token}'")
    bos = bos_convention(cfg, tokenizer)
    files = input_files(cfg.input)
    with open_run(cfg.output_dir, "tokenize-data", cfg) as out:
        (out / "meta.json").unlink(missing_ok=True)
        work = out / f".work-{os.getpid()}"
        work.mkdir(exist_ok=True)
        try:
            _encode_all(files, work, cfg)
            splits = {s: _concatenate(len(files), work, out, s) for s in SPLITS}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        vocab_size = tokenizer.get_vocab_size()
        meta = {"vocab_size": vocab_size, "dtype": token_dtype(vocab_size).name, "eos_id": eos,
                "bos_id": bos, "bos": bos is not None,
                "tokenizer": str(Path(cfg.tokenizer).resolve()), "seed": cfg.seed,
                "val_fraction": cfg.val_fraction, "splits": splits, "files": [str(f) for f in files]}
        write_json(out / "meta.json", meta)
    metrics = {"vocab_size": vocab_size, "bos": meta["bos"],
               **{f"{s}_{k}": v for s, counts in splits.items() for k, v in counts.items()}}
    lines = ["| split | documents | tokens | characters | chars/token |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {s} | {c['documents']:,} | {c['tokens']:,} | {c['chars']:,} | "
              f"{c['chars'] / max(c['tokens'], 1):.3f} |" for s, c in splits.items()]
    summary = (f"{len(files)} shards → {out} (vocabulary {vocab_size}, "
               f"{'BOS + ' if meta['bos'] else ''}text + EOS per document)\n\n" + "\n".join(lines) + "\n")
    return StageResult("tokenize-data", str(out), {"tokens": str(out), "meta": str(out / "meta.json")},
                       metrics, summary)
