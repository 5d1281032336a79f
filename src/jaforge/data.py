"""The small data the jaforge team wrote and ships in ``data/``: where it lives and how to read it.

    from jaforge import data
    docs = data.japanese_clean()        # [{"id": "ja-news-001", "genre": "news", "text": "…"}, …]
    pages = data.html_pages()           # [HtmlPage(path=…/page-00.html, source_id="ja-essay-015", …)]

    python -m jaforge.data              # the counts table of data/README.md, from the files

The directory is ``$JAFORGE_DATA_DIR`` when set, else the ``data/`` folder beside ``src/`` of a
source checkout (or editable install), else ``./data``. Loaders return plain dicts in the layout
of the file (the corpus stage reads the same JSONL) or small dataclasses. A file that does not
fit raises `DataError` naming the file, the line and the field; `read_records` and `field` give
the eval and SFT loaders the same messages.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

from jaforge.errors import JaforgeError
from jaforge.registry import did_you_mean

ENV_VAR = "JAFORGE_DATA_DIR"


class DataError(JaforgeError, ValueError):
    """A data file that does not have the layout its loader expects (names file, line, field)."""


def _checkout() -> Path | None:
    """The folder holding ``src/jaforge/`` when this module runs from a source layout."""
    here = Path(__file__).resolve()
    return here.parents[2] if here.parents[1].name == "src" else None


def data_dir() -> Path:
    """The embedded data directory; fails with every place it looked."""
    env = os.environ.get(ENV_VAR)
    if env:
        if Path(env).is_dir():
            return Path(env)
        raise FileNotFoundError(f"${ENV_VAR} is set to {env}, which is not a directory")
    checkout = _checkout()
    candidates = ([checkout / "data"] if checkout else []) + [Path.cwd() / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"jaforge's data directory not found (looked at: {tried}); "
                            f"set ${ENV_VAR} to the data/ folder of a jaforge checkout")


def data_path(relative: str) -> Path:
    """A file under the data directory, e.g. ``data_path("sft/chat.jsonl")``."""
    path = data_dir() / relative
    if not path.exists():
        raise FileNotFoundError(f"embedded data file {relative} not found at {path}")
    return path


# ---------------------------------------------------------------------------- reading records

def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def parse_json(raw: bytes, path: str | Path, first_line: int = 1) -> Any:
    """JSON from bytes read at `first_line` of `path`; an error names the file and line."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        line = first_line + raw.count(b"\n", 0, err.start)
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{first_line + err.lineno - 1}: malformed JSON: {err.msg} "
                        f"(column {err.colno})") from None


def read_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file (.gz too)."""
    path = Path(path)
    with _open(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if raw.strip():
                record = parse_json(raw.strip(), path, line_no)
                if not isinstance(record, dict):
                    raise DataError(f"{path}:{line_no}: expected a JSON object, "
                                    f"got {type(record).__name__}")
                yield line_no, record


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """The objects of a JSON-lines file; a bad line raises `DataError` naming file and line."""
    for _, record in read_jsonl_numbered(path):
        yield record


def read_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(place, object) from JSON lines or from one JSON array of objects (as many HF exports are).

    The place is ``file:line`` for JSON lines and ``file: record N`` for an array.
    """
    path = Path(path)
    with _open(path) as handle:
        raw = handle.read()
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        for line_no, record in read_jsonl_numbered(path):
            yield f"{path}:{line_no}", record
        return
    for number, record in enumerate(parse_json(raw, path), start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {number}: expected a JSON object, "
                            f"got {type(record).__name__}")
        yield f"{path}: record {number}", record


def field(record: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``record[name]`` checked to be of `kind` (a bool is no int); errors name place and field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if name not in record:
        hint = did_you_mean(name, list(record)) or ";"
        raise DataError(f"{where}: field '{name}' is missing{hint} fields here: "
                        f"{', '.join(record) or 'none'}")
    value = record[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"{where}: field '{name}' should be {expected}, got {value!r}")
    return value


def choice(record: Any, name: str, choices: Iterable[Any], where: str) -> Any:
    """``record[name]``, which must be one of `choices` (an exact match, bools never equal ints)."""
    choices = list(choices)
    value = field(record, name, tuple({type(c) for c in choices}), where)
    if value not in choices:
        hint = did_you_mean(str(value), [str(c) for c in choices])
        raise DataError(f"{where}: field '{name}': {value!r} is not one of "
                        f"{', '.join(map(repr, choices))}{hint}")
    return value


def _load(relative: str, fields: dict[str, type | tuple[type, ...]]) -> list[dict]:
    records = []
    for where, record in read_records(data_path(relative)):
        for name, kind in fields.items():
            field(record, name, kind, where)
        records.append(record)
    return records


# ---------------------------------------------------------------------------- the embedded corpus

DOC_FIELDS = {"id": str, "genre": str, "text": str}


def japanese_clean(genres: Iterable[str] | None = None) -> list[dict]:
    """Clean Japanese documents (id, genre, text), one file per genre; optionally only `genres`."""
    genres = [genres] if isinstance(genres, str) else genres
    paths = sorted((data_dir() / "ja" / "clean").glob("*.jsonl"))
    known = [p.stem for p in paths]
    wanted = set(genres) if genres is not None else set(known)
    unknown = sorted(wanted - set(known))
    if unknown:
        raise KeyError(f"unknown genre '{unknown[0]}'{did_you_mean(unknown[0], known)} "
                       f"known: {', '.join(known)}")
    return [doc for p in paths if p.stem in wanted for doc in _load(f"ja/clean/{p.name}", DOC_FIELDS)]


def japanese_long() -> list[dict]:
    """Long clean Japanese documents of 5k–20k characters (id, genre ∈ manual/article/tutorial,
    title, features, text): manuals, articles and tutorials with code blocks, tables and lists."""
    fields = {**DOC_FIELDS, "title": str, "features": list}
    return [doc for p in sorted((data_dir() / "ja" / "long").glob("*.jsonl"))
            for doc in _load(f"ja/long/{p.name}", fields)]


def english_clean() -> list[dict]:
    """Clean English documents (id, genre, text), for language-ID and mixing experiments."""
    return _load("en/clean.jsonl", DOC_FIELDS)


def noisy() -> list[dict]:
    """Japanese documents each showing one defect a quality rule should catch (id, label, text)."""
    return _load("ja/noisy/noisy.jsonl", {"id": str, "label": str, "text": str})


def pii() -> list[dict]:
    """Japanese texts holding fictitious personal data (id, text, pii: [{type, value}])."""
    records = _load("ja/noisy/pii.jsonl", {"id": str, "text": str, "pii": list})
    path = data_path("ja/noisy/pii.jsonl")
    for record in records:
        for i, item in enumerate(record["pii"]):
            where = f"{path}: id {record['id']}: pii[{i}]"
            field(item, "type", str, where)
            field(item, "value", str, where)
    return records


def pii_negatives() -> list[dict]:
    """Japanese technical texts holding no personal data but look-alikes of it (configs, hex
    dumps, code, versions, dates, example and private addresses): PII precision (id, kind, text)."""
    return _load("ja/noisy/pii_negatives.jsonl", {"id": str, "kind": str, "text": str})


def near_duplicates() -> list[dict]:
    """Lightly edited copies of clean documents (id, duplicate_of, edit, jaccard_5gram, text)."""
    return _load("ja/dups/near_duplicates.jsonl", {"id": str, "duplicate_of": str, "text": str})


def exact_duplicates() -> list[dict]:
    """Verbatim copies of clean documents (id, duplicate_of, text)."""
    return _load("ja/dups/exact_duplicates.jsonl", {"id": str, "duplicate_of": str, "text": str})


@dataclass
class HtmlPage:
    """A clean document wrapped in invented site chrome (nav, ads, sidebar, footer)."""

    path: Path
    source_id: str  # the clean document inside the page
    url: str        # the URL the page was given in the WARC sample
    site: str = ""


def html_pages() -> list[HtmlPage]:
    """The HTML pages listed in ``html/index.tsv``; every listed page must exist."""
    index = data_path("html/index.tsv")
    lines = index.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    pages = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = dict(zip(header, line.split("\t")))
        where = f"{index}:{line_no}"
        path = index.parent / field(row, "file", str, where)
        if not path.is_file():
            raise DataError(f"{where}: field 'file': {path} does not exist")
        pages.append(HtmlPage(path, field(row, "source_id", str, where),
                              field(row, "url", str, where), row.get("site", "")))
    return pages


def warc_sample() -> Path:
    """The WARC archive of some HTML pages (read it with the corpus stage's WARC reader)."""
    return data_path("warc/sample.warc.gz")


# ---------------------------------------------------------------------------- the project's own code

SKIP_DIRS = {"__pycache__", "node_modules", "runs", "build", "dist", "site-packages"}


def project_root() -> Path:
    """The checkout holding ``src/jaforge/``, or the package folder when installed."""
    return _checkout() or Path(__file__).resolve().parent


def _source_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                         and not d.endswith(".egg-info") and not (here / d / "pyvenv.cfg").exists())
        for name in sorted(files):
            if name.endswith(suffixes):
                yield here / name


def source_code_documents(root: str | Path | None = None,
                          suffixes: tuple[str, ...] = (".py", ".yaml", ".md", ".toml")) -> list[dict]:
    """The project's own source files as documents (id = path relative to `root`, genre "code").

    For data-order and mixing experiments: a code genre that is always at hand. Hidden folders,
    virtual environments, caches and build outputs are skipped, as are files that are empty or
    not UTF-8. Documents come in path order.
    """
    root = Path(root) if root is not None else project_root()
    docs = []
    for path in _source_files(root, tuple(suffixes)):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            docs.append({"id": path.relative_to(root).as_posix(), "genre": "code", "text": text})
    return docs


# ---------------------------------------------------------------------------- the data card's table

@dataclass
class CardRow:
    """One line of the counts table in data/README.md."""
    file: str
    records: int
    unit: str
    chars: int
    shortest: int
    longest: int
    breakdown: str


def _jsonl_counter(text: Callable[[dict], str], group: Callable[[dict], Iterable[str]] | None):
    def count(paths: list[Path]) -> tuple[int, list[int], Counter]:
        lengths, groups = [], Counter()
        for path in paths:
            for _, record in read_records(path):
                lengths.append(len(text(record)))
                groups.update(group(record) if group else ())
        return len(lengths), lengths, groups
    return count


def _count_jsquad(paths: list[Path]) -> tuple[int, list[int], Counter]:
    questions, contexts, groups = 0, [], Counter()
    for path in paths:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        groups["articles"] += len(articles)
        for article in articles:
            for paragraph in article["paragraphs"]:
                groups["paragraphs"] += 1
                contexts.append(len(paragraph["context"]))
                questions += len(paragraph["qas"])
    return questions, contexts, groups


def _count_files(paths: list[Path]) -> tuple[int, list[int], Counter]:
    return len(paths), [len(p.read_text(encoding="utf-8")) for p in paths], Counter()


def _count_lines(paths: list[Path]) -> tuple[int, list[int], Counter]:
    lines = [line for p in paths for line in p.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    return len(lines), [len(line) for line in lines], Counter()


def _count_catalog(paths: list[Path]) -> tuple[int, list[int], Counter]:
    models = (yaml.safe_load(paths[0].read_text(encoding="utf-8")) or {}).get("models", [])
    return len(models), [], Counter(m.get("family", "other") for m in models)


def _count_warc(paths: list[Path]) -> tuple[int, list[int], Counter]:
    with gzip.open(paths[0], "rb") as handle:
        return handle.read().count(b"WARC-Type: response"), [], Counter()


def _user_turns(record: dict) -> list[str]:
    turns = sum(m.get("role") == "user" for m in record["messages"])
    system = any(m.get("role") == "system" for m in record["messages"])
    return [f"{turns} user turns"] + (["with system prompt"] if system else [])


def _texts(*names: str) -> Callable[[dict], str]:
    return lambda r: "".join(str(r.get(n, "")) for n in names)


def _by(name: str) -> Callable[[dict], list[str]]:
    return lambda r: [str(r[name])]


# (glob under data/, unit, counter): every embedded file matches one entry; the files of an
# entry are counted together, and those in PER_FILE also one row per file
PER_FILE = {"ja/clean/*.jsonl", "ja/long/*.jsonl", "eval/jnli/*-v1.1.json", "eval/marc_ja/*-v1.0.json",
            "eval/jcommonsenseqa/*-v1.1.json", "eval/jsquad/*-v1.1.json", "eval/jsts/*-v1.1.json",
            "eval/jaqket_v2/*_jaqket.json", "eval/xlsum/japanese_*.jsonl"}
CARD = [
    ("ja/clean/*.jsonl", "documents", _jsonl_counter(_texts("text"), _by("genre"))),
    ("ja/long/*.jsonl", "documents", _jsonl_counter(_texts("text"), lambda r: r["features"])),
    ("en/clean.jsonl", "documents", _jsonl_counter(_texts("text"), _by("genre"))),
    ("ja/noisy/noisy.jsonl", "documents", _jsonl_counter(_texts("text"), _by("label"))),
    ("ja/noisy/pii.jsonl", "documents", _jsonl_counter(
        _texts("text"), lambda r: [item["type"] for item in r["pii"]])),
    ("ja/noisy/pii_negatives.jsonl", "documents", _jsonl_counter(_texts("text"), _by("kind"))),
    ("ja/noisy/ng_words.txt", "words", _count_lines),
    ("ja/noisy/ad_words.txt", "words", _count_lines),
    ("ja/dups/near_duplicates.jsonl", "documents", _jsonl_counter(
        _texts("text"), lambda r: [e.split()[0] for e in r.get("edit", "").split("; ") if e])),
    ("ja/dups/exact_duplicates.jsonl", "documents", _jsonl_counter(_texts("text"), None)),
    ("html/page-*.html", "pages", _count_files),
    ("html/index.tsv", "rows", lambda paths: (_count_lines(paths)[0] - 1, [], Counter())),
    ("warc/sample.warc.gz", "responses", _count_warc),
    ("eval/jnli/*-v1.1.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), _by("label"))),
    ("eval/marc_ja/*-v1.0.json", "reviews", _jsonl_counter(_texts("sentence"), _by("label"))),
    ("eval/jcommonsenseqa/*-v1.1.json", "questions", _jsonl_counter(
        _texts("question"), lambda r: [f"label {r['label']}"])),
    ("eval/jsquad/*-v1.1.json", "questions", _count_jsquad),
    ("eval/jsts/*-v1.1.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), lambda r: [f"score {int(r['label'] + 0.5)}"])),
    ("eval/jaqket_v2/*_jaqket.json", "questions", _jsonl_counter(_texts("question"), lambda r: [
        "answer in first 5 passages" if any(c["has_answer"] for c in r["ctxs"][:5]) else "no answer in passages"])),
    ("eval/mgsm/train.jsonl", "problems", _jsonl_counter(_texts("question", "answer"), None)),
    ("eval/mgsm/mgsm_ja.tsv", "problems", _count_lines),
    ("eval/xlsum/japanese_*.jsonl", "articles", _jsonl_counter(_texts("text"), None)),
    ("eval/xwinograd/xwinograd-ja.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), lambda r: [f"answer {r['answer']}"])),
    ("sft/dolly_ja.jsonl", "examples", _jsonl_counter(
        _texts("instruction", "input", "output"), _by("category"))),
    ("sft/chat.jsonl", "conversations", _jsonl_counter(
        lambda r: "".join(m.get("content", "") for m in r["messages"]), _user_turns)),
    ("sft/preference.jsonl", "pairs", _jsonl_counter(_texts("prompt", "chosen", "rejected"), None)),
    ("sft/safety_ja.jsonl", "examples", _jsonl_counter(
        lambda r: "".join(m.get("content", "") for m in r["messages"]),
        lambda r: [r["kind"], f"{r['kind']} {r['split']}"])),
    ("parallel/en_ja.jsonl", "pairs", _jsonl_counter(_texts("en", "ja"), lambda r: [r["split"]])),
    ("catalog/models.yaml", "models", _count_catalog),
]


def _card_row(name: str, paths: list[Path], unit: str, count: Callable) -> CardRow:
    records, lengths, groups = count(paths)
    breakdown = ", ".join(f"{group} {n}" for group, n in sorted(groups.items()))
    return CardRow(name, records, unit, sum(lengths), min(lengths, default=0),
                   max(lengths, default=0), breakdown)


def card_rows(root: Path | None = None) -> list[CardRow]:
    """Counts for every entry of `CARD` that has files."""
    root = root or data_dir()
    rows = []
    for pattern, unit, count in CARD:
        paths = sorted(root.glob(pattern))
        if pattern in PER_FILE:
            rows += [_card_row(p.relative_to(root).as_posix(), [p], unit, count) for p in paths]
        if paths:
            rows.append(_card_row(pattern, paths, unit, count))
    return rows


def card_table(rows: list[CardRow]) -> str:
    """The rows as a Markdown table."""
    lines = ["| file | count | characters | shortest–longest | breakdown |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        span = f"{r.shortest:,}–{r.longest:,}" if r.chars else ""
        chars = f"{r.chars:,}" if r.chars else ""
        lines.append(f"| `{r.file}` | {r.records:,} {r.unit} | {chars} | {span} | {r.breakdown} |")
    return "\n".join(lines)


def main() -> int:
    try:
        print(card_table(card_rows()))
    except (FileNotFoundError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
