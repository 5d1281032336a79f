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

A malformed line (bad JSON, a missing field, too few columns, bad UTF-8) is skipped and recorded
with its file:line in `skipped.jsonl`; a file that yields no pair at all stops the run. Writes into
`output_dir`: `data/part-00000.jsonl` (id, text, metadata; what tokenize-data reads),
`heldout.jsonl`, `skipped.jsonl`, `stats.json` (pairs kept, held out, dropped by reason) and
config.yaml.
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


class BadLine(ValueError):
    """A line that holds no pair (its reason; the caller knows the file and line)."""


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            yield from enumerate(handle, start=1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(path, f"cannot be read ({err})") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise BadLine(f"field '{name}' should be a string, got {value!r}")
    return " ".join(value.split())


def _jsonl_pair(line: str, number: int, path: Path, cfg: ParallelTextConfig) -> Pair:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise BadLine(f"malformed JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(record, dict):
        raise BadLine(f"expected a JSON object, got {type(record).__name__}")
    for name in (cfg.en_field, cfg.ja_field):
        if name not in record:
            raise BadLine(f"field '{name}' is missing (fields: {', '.join(record)}); set en_field / ja_field")
    return Pair(str(record.get("id", f"{path.stem}-{number}")), _text(record[cfg.en_field], cfg.en_field),
                _text(record[cfg.ja_field], cfg.ja_field), str(record.get(cfg.split_field, "train")),
                str(record.get("genre", "")))


class TsvRows:
    """TSV lines → pairs: the columns that `cfg.columns` names, or a header line's."""

    def __init__(self, path: Path, cfg: ParallelTextConfig):
        self.path, self.cfg, self.columns = path, cfg, list(cfg.columns)

    def __call__(self, line: str, number: int, path: Path, cfg: ParallelTextConfig) -> Optional[Pair]:
        cells = next(csv.reader(io.StringIO(line), delimiter="\t", quoting=csv.QUOTE_NONE))
        if number == 1 and cfg.en_field in cells and cfg.ja_field in cells:
            self.columns = cells
            return None
        for name in (cfg.en_field, cfg.ja_field):
            if name not in self.columns:
                raise ConfigError(f"'columns': {self.columns} names no '{name}' column for {path}")
        if len(cells) < len(self.columns):
            raise BadLine(f"{len(cells)} tab-separated columns, expected {len(self.columns)} "
                          f"({', '.join(self.columns)})")
        row = dict(zip(self.columns, cells))
        return Pair(row.get("id", f"{path.stem}-{number}"), _text(row[cfg.en_field], cfg.en_field),
                    _text(row[cfg.ja_field], cfg.ja_field), row.get(cfg.split_field, "train"),
                    row.get("genre", ""))


def read_pairs(path: str | Path, cfg: Optional[ParallelTextConfig] = None,
               skipped: Optional[list[dict]] = None) -> Iterator[Pair]:
    """The pairs of a TSV or JSONL file. A line that holds no pair is an InputError naming the file
    and line, or, given a `skipped` list, recorded there ({file, line, reason}) and passed over."""
    cfg = cfg or ParallelTextConfig()
    path = Path(path)
    kind = detect_format(path) if cfg.format == "auto" else cfg.format
    parse = TsvRows(path, cfg) if kind == "tsv" else _jsonl_pair
    for number, raw in _raw_lines(path):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            pair = parse(line, number, path, cfg) if line.strip() else None
        except (BadLine, UnicodeDecodeError) as err:
            reason = str(err) if isinstance(err, BadLine) else "not valid UTF-8"
            if skipped is None:
                raise InputError(path, reason, line=number) from None
            skipped.append({"file": str(path), "line": number, "reason": reason})
            continue
        if pair is not None:
            yield pair


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


def pairs_of(path: str, cfg: ParallelTextConfig, skipped: list[dict]) -> list[Pair]:
    """A file's pairs, malformed lines skipped; a file that yields none stops the run."""
    before = len(skipped)
    pairs = list(read_pairs(path, cfg, skipped))
    if not pairs and len(skipped) > before:
        first = skipped[before]
        raise InputError(path, f"no pair could be read ({len(skipped) - before} bad lines; the first: "
                               f"{first['reason']})", line=first["line"])
    return pairs


def split_pairs(cfg: ParallelTextConfig, skipped: list[dict]) -> tuple[list[Pair], list[Pair], dict[str, int]]:
    """(training pairs, held-out pairs, dropped by reason); malformed lines go to `skipped`."""
    banned = {text for path in cfg.holdout for p in pairs_of(path, cfg, skipped) for text in (p.en, p.ja)}
    train, heldout, dropped, seen = [], [], {}, set()
    for path in cfg.input:
        for pair in pairs_of(path, cfg, skipped):
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
    skipped: list[dict] = []
    train, heldout, dropped = split_pairs(cfg, skipped)
    if skipped:
        dropped["a malformed line"] = len(skipped)
    if not train:
        raise InputError(", ".join(cfg.input), "no training pairs left (all held out or dropped)")
    docs = documents(train, cfg)
    with open_run(cfg.output_dir, "parallel-text", cfg) as out:
        write_text(out / "data" / "part-00000.jsonl",
                   "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
        write_text(out / "heldout.jsonl", "".join(json.dumps(
            {"id": p.id, "genre": p.genre, "split": "test", "en": p.en, "ja": p.ja},
            ensure_ascii=False) + "\n" for p in heldout))
        write_text(out / "skipped.jsonl", "".join(json.dumps(k, ensure_ascii=False) + "\n" for k in skipped))
        stats = {"pairs_train": len(train), "pairs_heldout": len(heldout), "documents": len(docs),
                 "dropped": dropped, "chars": sum(len(d["text"]) for d in docs)}
        write_json(out / "stats.json", stats)
    summary = (f"{len(train)} training pairs → {len(docs)} documents in {out / 'data'}; "
               f"{len(heldout)} held-out pairs in {out / 'heldout.jsonl'}"
               + (f"; dropped: {dropped}" if dropped else "") + "\n")
    return StageResult("parallel-text", str(out), {"data": str(out / "data"),
                                                   "heldout": str(out / "heldout.jsonl")}, stats, summary)
