"""The small data the jaforge team wrote and ships in ``data/``: where it lives and how to read it.

    from jaforge import data
    docs = data.japanese_clean()        # [{"id": "ja-news-001", "genre": "news", "text": "…"}, …]
    pages = data.html_pages()           # [HtmlPage(path=…/page-00.html, source_id="ja-essay-015", …)]

The directory is ``$JAFORGE_DATA_DIR`` when set, else the ``data/`` folder beside ``src/`` of a
source checkout (or editable install), else ``./data``. Loaders return plain dicts in the layout
of the file (the corpus stage reads the same JSONL) or small dataclasses; a file that does not
fit raises `jaforge.io.records.DataError` naming the file, the line and the field. The counts
table of data/README.md is `python -m jaforge.data_card`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from jaforge.errors import UnknownNameError
from jaforge.io.records import DataError, field, read_records
from jaforge.registry import did_you_mean

ENV_VAR = "JAFORGE_DATA_DIR"


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
        raise UnknownNameError(f"unknown genre '{unknown[0]}'{did_you_mean(unknown[0], known)} "
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
