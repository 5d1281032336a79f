"""The parallel-text stage: English–Japanese sentence pairs → pretraining text documents.

    jaforge parallel-text --input '[data/parallel/en_ja.jsonl]' --output_dir runs/parallel
    jaforge parallel-text --input '[en-ja.tsv]' --columns '[url, score, en, ja]' --holdout '[test.jsonl]'

Pairs are read from the common parallel layouts: TSV (`en<TAB>ja`, or the columns that `columns`
names, e.g. JParaCrawl's `url score en ja`; a first line naming the `en` and `ja` columns is a
header) and JSON lines with `en` and `ja` fields (`en_field`, `ja_field` rename them); `.gz` too.
Held-out pairs never reach the training text: those whose `split` is in `holdout_splits`, and any
pair sharing a side with a pair of the `holdout` files. They go to `heldout.jsonl` for translation
evaluation (`jaforge eval --tasks '[translation_en_ja]'`). The others, shuffled by `seed`, become
documents of `pairs_per_document` pairs, each rendered by the template of one direction (en→ja or
ja→en, chosen per pair by a seeded hash) — the same template the translation eval prompts with.

Writes into `output_dir`: `data/part-00000.jsonl` (id, text, metadata; what tokenize-data reads),
`heldout.jsonl`, `stats.json` (pairs read, kept, held out, dropped by reason) and config.yaml.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterator, Literal, Optional

from annotated_types import Ge, MinLen

from jaforge.errors import ConfigError, InputError
from jaforge.io.atomic import write_json, write_text
from jaforge.paths import InputPath, resolve_path
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

Direction = Literal["en-ja", "ja-en"]
TEMPLATES = {"en-ja": "English: {en}\n日本語: {ja}", "ja-en": "日本語: {ja}\nEnglish: {en}"}
"""How a pair is written in each direction; a translation prompt is the text before the target."""


@dataclass
class ParallelTextConfig:
    input: Annotated[list[InputPath], MinLen(1)] = field(
        default_factory=lambda: [resolve_path("data/parallel/en_ja.jsonl", Path.cwd())])
    """Pair files: .tsv / .jsonl (also .gz); jaforge's team-written pairs by default."""
    format: Literal["auto", "tsv", "jsonl"] = "auto"
    """auto: by the file name (.tsv, .txt → tsv; .jsonl, .json → jsonl)."""
    en_field: str = "en"
    """JSON field (or TSV column name) of the English side."""
    ja_field: str = "ja"
    """JSON field (or TSV column name) of the Japanese side."""
    columns: Annotated[list[str], MinLen(2)] = field(default_factory=lambda: ["en", "ja"])
    """TSV without a header: the name of each column in order (extra columns are ignored)."""
    split_field: str = "split"
    """JSON field saying a pair's split (train/test); pairs without it are training pairs."""
    holdout_splits: list[str] = field(default_factory=lambda: ["test"])
    """Splits kept out of the training text (written to heldout.jsonl)."""
    holdout: list[InputPath] = field(default_factory=list)
    """Pair files whose pairs must never be trained on: a pair sharing either side is held out."""
    directions: Annotated[list[Direction], MinLen(1)] = field(default_factory=lambda: ["en-ja", "ja-en"])
    """Directions to write; each pair gets one of them (by a seeded hash of its text)."""
    templates: dict[str, str] = field(default_factory=lambda: dict(TEMPLATES))
    """Template per direction with {en} and {ja}; the translation eval prompts with the default."""
    pairs_per_document: Annotated[int, Ge(1)] = 8
    """Pairs per training document (separated by a blank line)."""
    seed: Annotated[int, Ge(0)] = 0
    """Seed of the pair order and of each pair's direction."""
    output_dir: str = "runs/parallel"
    """Where data/part-00000.jsonl, heldout.jsonl, stats.json and config.yaml are written."""


@dataclass
class Pair:
    id: str
    en: str
    ja: str
    split: str = "train"
    genre: str = ""


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".tsv", ".txt")):
        return "tsv"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    raise ConfigError(f"{path}: cannot tell the format of a pair file from its name; set 'format' "
                      f"(tsv or jsonl)")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise InputError(path, "not valid UTF-8", line=number) from None
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(path, f"cannot be read ({err})") from None


def _text(value: object, path: Path, line: int, name: str) -> str:
    if not isinstance(value, str):
        raise InputError(path, f"field '{name}' should be a string, got {value!r}", line=line)
    return " ".join(value.split())


def _jsonl_pairs(path: Path, cfg: ParallelTextConfig) -> Iterator[Pair]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"malformed JSON: {err.msg} (column {err.colno})", line=number) from None
        if not isinstance(record, dict):
            raise InputError(path, f"expected a JSON object, got {type(record).__name__}", line=number)
        for name in (cfg.en_field, cfg.ja_field):
            if name not in record:
                raise InputError(path, f"field '{name}' is missing (fields: {', '.join(record)}); set "
                                       f"en_field / ja_field", line=number)
        yield Pair(str(record.get("id", f"{path.stem}-{number}")),
                   _text(record[cfg.en_field], path, number, cfg.en_field),
                   _text(record[cfg.ja_field], path, number, cfg.ja_field),
                   str(record.get(cfg.split_field, "train")), str(record.get("genre", "")))


def _tsv_pairs(path: Path, cfg: ParallelTextConfig) -> Iterator[Pair]:
    columns = list(cfg.columns)
    for number, line in _lines(path):
        if not line.strip():
            continue
        cells = next(csv.reader(io.StringIO(line), delimiter="\t", quoting=csv.QUOTE_NONE))
        if number == 1 and cfg.en_field in cells and cfg.ja_field in cells:
            columns = cells  # a header line
            continue
        for name in (cfg.en_field, cfg.ja_field):
            if name not in columns:
                raise ConfigError(f"'columns': {columns} names no '{name}' column for {path}")
        if len(cells) < len(columns):
            raise InputError(path, f"{len(cells)} tab-separated columns, expected {len(columns)} "
                                   f"({', '.join(columns)})", line=number)
        row = dict(zip(columns, cells))
        yield Pair(row.get("id", f"{path.stem}-{number}"), _text(row[cfg.en_field], path, number, "en"),
                   _text(row[cfg.ja_field], path, number, "ja"), row.get(cfg.split_field, "train"),
                   row.get("genre", ""))


def read_pairs(path: str | Path, cfg: Optional[ParallelTextConfig] = None) -> Iterator[Pair]:
    """The pairs of a TSV or JSONL file; a malformed line is an InputError naming file and line."""
    cfg = cfg or ParallelTextConfig()
    path = Path(path)
    kind = detect_format(path) if cfg.format == "auto" else cfg.format
    yield from (_tsv_pairs if kind == "tsv" else _jsonl_pairs)(path, cfg)


def render(pair: Pair, direction: str, templates: dict[str, str]) -> str:
    return templates[direction].format(en=pair.en, ja=pair.ja)


def prompt_and_target(pair: Pair, direction: str, templates: dict[str, str] = TEMPLATES) -> tuple[str, str]:
    """A translation prompt (the template up to the target) and the target text."""
    template = templates[direction]
    target = "{ja}" if direction == "en-ja" else "{en}"
    head = template[:template.index(target)].rstrip(" ")
    return head.format(en=pair.en, ja=pair.ja), pair.ja if direction == "en-ja" else pair.en


def _direction(pair: Pair, directions: list[str], seed: int) -> str:
    digest = hashlib.blake2b(f"{seed}\x00{pair.en}\x00{pair.ja}".encode("utf-8"), digest_size=8).digest()
    return directions[int.from_bytes(digest, "little") % len(directions)]


def check_templates(cfg: ParallelTextConfig) -> None:
    for direction in cfg.directions:
        template = cfg.templates.get(direction)
        if template is None:
            raise ConfigError(f"'templates': no template for direction {direction}")
        if "{en}" not in template or "{ja}" not in template:
            raise ConfigError(f"'templates.{direction}': needs both {{en}} and {{ja}}, got {template!r}")


def split_pairs(cfg: ParallelTextConfig) -> tuple[list[Pair], list[Pair], dict[str, int]]:
    """(training pairs, held-out pairs, dropped by reason)."""
    banned = {text for path in cfg.holdout for p in read_pairs(path, cfg) for text in (p.en, p.ja)}
    train, heldout, dropped, seen = [], [], {}, set()
    for path in cfg.input:
        for pair in read_pairs(path, cfg):
            if not pair.en or not pair.ja:
                dropped["an empty side"] = dropped.get("an empty side", 0) + 1
            elif pair.split in cfg.holdout_splits or pair.en in banned or pair.ja in banned:
                heldout.append(pair)
            elif (pair.en, pair.ja) in seen:
                dropped["a repeated pair"] = dropped.get("a repeated pair", 0) + 1
            else:
                seen.add((pair.en, pair.ja))
                train.append(pair)
    return train, heldout, dropped


def documents(pairs: list[Pair], cfg: ParallelTextConfig) -> list[dict]:
    """Shuffled pairs, rendered and grouped `pairs_per_document` to a document."""
    order = list(pairs)
    random.Random(cfg.seed).shuffle(order)
    docs = []
    for start in range(0, len(order), cfg.pairs_per_document):
        group = order[start:start + cfg.pairs_per_document]
        rendered = [(p, _direction(p, cfg.directions, cfg.seed)) for p in group]
        docs.append({"id": f"parallel-{start // cfg.pairs_per_document:06d}",
                     "text": "\n\n".join(render(p, d, cfg.templates) for p, d in rendered),
                     "metadata": {"pairs": [p.id for p in group], "directions": [d for _, d in rendered]}})
    return docs


def run(cfg: ParallelTextConfig) -> StageResult:
    """Write the training documents and the held-out pairs."""
    check_templates(cfg)
    train, heldout, dropped = split_pairs(cfg)
    if not train:
        raise InputError(", ".join(cfg.input), "no training pairs left (all held out or dropped)")
    docs = documents(train, cfg)
    with open_run(cfg.output_dir, "parallel-text", cfg) as out:
        write_text(out / "data" / "part-00000.jsonl",
                   "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
        write_text(out / "heldout.jsonl", "".join(json.dumps(
            {"id": p.id, "genre": p.genre, "split": "test", "en": p.en, "ja": p.ja},
            ensure_ascii=False) + "\n" for p in heldout))
        stats = {"pairs_train": len(train), "pairs_heldout": len(heldout), "documents": len(docs),
                 "dropped": dropped, "chars": sum(len(d["text"]) for d in docs)}
        write_json(out / "stats.json", stats)
    summary = (f"{len(train)} training pairs → {len(docs)} documents in {out / 'data'}; "
               f"{len(heldout)} held-out pairs in {out / 'heldout.jsonl'}"
               + (f"; dropped: {dropped}" if dropped else "") + "\n")
    return StageResult("parallel-text", str(out), {"data": str(out / "data"),
                                                   "heldout": str(out / "heldout.jsonl")}, stats, summary)
