"""Readers: JSONL (plain, .gz, .zst), Parquet, .txt files, HTML files and WARC archives → Documents.

Every reader yields `Document`s with `source` set to `file:line` (line = JSONL line, Parquet row,
WARC record). One bad record never stops a run: invalid UTF-8, malformed or too deeply nested
JSON, numbers too long to convert, lone surrogate escapes, a missing text field, NUL bytes and
oversized documents are each skipped and counted in a `SkipLog` with their reason and place. A
UTF-8 byte-order mark is ignored.

A whole file that cannot be what it claims to be stops the run with an `InputError` naming it:
a file (or part of one) whose non-empty lines yield no record at all (UTF-16 text, gzip bytes
in a `.jsonl`, a wrong `input.text_field`), a Parquet file without the text column, and a
truncated or fake `.gz` / `.zst` / Parquet / WARC file. A run never drops a file silently.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Iterator, Literal, Optional

from annotated_types import Ge, MinLen

from jaforge.errors import ConfigError, InputError, input_errors
from jaforge.extras import require
from jaforge.io.document import Document
from jaforge.io.skips import SkipLog, place
from jaforge.paths import InputPath

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".json.zst",
                  ".ndjson", ".ndjson.gz", ".ndjson.zst")
FORMAT_BY_SUFFIX = {
    **{s: "jsonl" for s in JSONL_SUFFIXES},
    ".parquet": "parquet", ".txt": "txt", ".html": "html", ".htm": "html",
    ".warc": "warc", ".warc.gz": "warc", ".arc.gz": "warc",
}
WHAT = {"jsonl": "JSON lines (UTF-8, one object a line)", "parquet": "a Parquet file",
        "warc": "a WARC archive", "txt": "UTF-8 text", "html": "an HTML page"}
_BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass
class InputConfig:
    paths: Annotated[list[InputPath], MinLen(1)] = field(default_factory=list)
    """Files, folders or glob patterns to read (at least one)."""
    format: Literal["auto", "jsonl", "parquet", "txt", "html", "warc"] = "auto"
    """Reader to use; `auto` picks one from each file's extension."""
    text_field: str = "text"
    """Field (JSONL/Parquet) holding the document text."""
    id_field: str = "id"
    """Field holding the document id; missing ids become `<file stem>-<line>`."""
    metadata_fields: Optional[list[str]] = None
    """Fields passed through as metadata; None passes every field but text and id."""
    max_doc_chars: Annotated[int, Ge(1)] = 5_000_000
    """Documents longer than this are skipped (reason `too_large`) instead of processed."""
    extract_main_text: bool = True
    """HTML/WARC: keep only the main text (trafilatura) rather than every text node."""
    task_bytes: Annotated[int, Ge(1_000)] = 8_000_000
    """A JSONL or Parquet file larger than this is split into equal parts of at most about this
    many bytes (at line or row-group boundaries), each one task: workers share one big file. The
    split depends only on the files, never on the number of workers."""



def detect_format(path: str | Path) -> str:
    name = str(path).lower()
    for suffix in sorted(FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMAT_BY_SUFFIX[suffix]
    raise ConfigError(f"{path}: cannot tell the format from the extension; set input.format "
                      f"(known extensions: {', '.join(sorted(FORMAT_BY_SUFFIX))})")


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing .gz and .zst transparently."""
    name = str(path)
    if name.endswith(".gz"):
        return gzip.open(name, "rb")
    if name.endswith(".zst"):
        import zstandard

        raw = open(name, "rb")
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(name, "rb")


def read_documents(path: str | Path, cfg: InputConfig, skips: SkipLog,
                   part: Optional[tuple[str, int, Optional[int], int]] = None) -> Iterator[Document]:
    """The acceptable documents of one file, or of the part (`bytes`|`row_groups`, start, stop,
    first line) of it that a task reads."""
    fmt = cfg.format if cfg.format != "auto" else detect_format(path)
    reader = {"jsonl": read_jsonl, "parquet": read_parquet, "txt": read_txt,
              "html": read_html, "warc": read_warc}[fmt]
    tally = Tally()
    for doc in reader(Path(path), cfg, skips, tally, *(part[1:] if part else ())):
        if _acceptable(doc, cfg, skips):
            yield doc
    if tally.records == 0 and tally.lines > 0:
        span = "" if part is None else f" (part {part[0]} {part[1]}–{part[2]})"
        raise InputError(path, f"no record could be read from its {tally.lines:,} non-empty "
                               f"{tally.unit}{span}: {tally.explain()}; expected {WHAT[fmt]}"
                               f" with the text in '{cfg.text_field}'")


class Tally:
    """How many non-empty lines (rows) a reader saw, how many became records, and why not."""

    def __init__(self, unit: str = "lines"):
        self.lines = self.records = 0
        self.unit = unit
        self.reasons: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def skip(self, skips: SkipLog, where: str, reason: str, detail: str = "") -> None:
        self.reasons[reason] += 1
        self.first.setdefault(reason, detail)
        skips.skip(where, reason, detail)

    def explain(self) -> str:
        return ", ".join(f"{reason} × {n:,}" + (f" (first: {self.first[reason][:120]})"
                                                 if self.first[reason] else "")
                         for reason, n in self.reasons.most_common(3)) or "no text"


def _acceptable(doc: Document, cfg: InputConfig, skips: SkipLog) -> bool:
    if "\x00" in doc.text:
        skips.skip(doc.source, "contains_nul", "the text holds NUL bytes")
        return False
    if len(doc.text) > cfg.max_doc_chars:
        skips.skip(doc.source, "too_large", f"{len(doc.text):,} chars > input.max_doc_chars")
        return False
    if not doc.text.strip():
        skips.skip(doc.source, "empty_text")
        return False
    return True


def _record_to_document(record: Any, path: Path, line: int, cfg: InputConfig, skips: SkipLog,
                        tally: Tally) -> Document | None:
    where = place(path, line)
    if not isinstance(record, dict):
        tally.skip(skips, where, "not_an_object", f"expected a JSON object, got {type(record).__name__}")
        return None
    text = record.get(cfg.text_field)
    if not isinstance(text, str):
        reason = "missing_text_field" if text is None else "text_not_a_string"
        fields = ", ".join(list(map(str, record))[:8])
        tally.skip(skips, where, reason, f"field '{cfg.text_field}'; fields: {fields}")
        return None
    tally.records += 1
    doc_id = record.get(cfg.id_field)
    doc_id = str(doc_id) if doc_id is not None else f"{_stem(path)}-{line}"
    if cfg.metadata_fields is None:
        meta = {k: v for k, v in record.items() if k not in (cfg.text_field, cfg.id_field)}
    else:
        meta = {k: record[k] for k in cfg.metadata_fields if k in record}
    return Document(doc_id, text, meta, where)


def _json_record(raw: bytes, where: str, skips: SkipLog, tally: Tally) -> Any:
    """The decoded JSON value of one line, or None (skipped with its reason)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        tally.skip(skips, where, "invalid_utf8", f"byte {err.start}")
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        tally.skip(skips, where, "malformed_json", err.msg)
        return None
    except RecursionError:
        tally.skip(skips, where, "json_too_deep", "nesting deeper than Python's recursion limit")
        return None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        tally.skip(skips, where, "json_value_too_large", str(err).split(";")[0])
        return None
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            tally.skip(skips, where, "lone_surrogate", "a \\uD800–\\uDFFF escape without its pair")
            return None
    return record


def _numbered_lines(path: Path, start: int, stop: Optional[int], first_line: int
                    ) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a file's lines; a byte range starts at a line start. Errors of
    the file itself (truncated or fake .gz/.zst) become an InputError naming the file."""
    with input_errors(path, WHAT["jsonl"] + _compression(path)):
        handle = open_binary(path)
    with handle:
        if start:
            handle.seek(start)
        position, number = start, first_line
        while stop is None or position < stop:
            raw = _read_line(handle, path)
            if not raw:
                break
            position += len(raw)
            yield number, raw
            number += 1


def _read_line(handle: IO[bytes], path: Path) -> bytes:
    try:
        return handle.readline()
    except MemoryError:
        raise
    except Exception as err:  # a truncated .gz (EOFError), bad bytes (OSError), zstandard.ZstdError
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(path, f"cannot be read as {WHAT['jsonl']}{_compression(path)}: "
                               f"{detail[:300]}") from None


def _compression(path: Path) -> str:
    name = str(path)
    return ", gzip-compressed" if name.endswith(".gz") else ", zstd-compressed" if name.endswith(".zst") else ""


def read_jsonl(path: Path, cfg: InputConfig, skips: SkipLog, tally: Tally, start: int = 0,
               stop: Optional[int] = None, first_line: int = 1) -> Iterator[Document]:
    for line_no, raw in _numbered_lines(path, start, stop, first_line):
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if not raw.strip():
            continue
        tally.lines += 1
        record = _json_record(raw, place(path, line_no), skips, tally)
        if record is not None:
            doc = _record_to_document(record, path, line_no, cfg, skips, tally)
            if doc is not None:
                yield doc


def read_parquet(path: Path, cfg: InputConfig, skips: SkipLog, tally: Tally, start: int = 0,
                 stop: Optional[int] = None, first_line: int = 1) -> Iterator[Document]:
    pq = require("pyarrow.parquet", "parquet", "Parquet input")
    tally.unit = "rows"
    with input_errors(path, WHAT["parquet"]):
        source = pq.ParquetFile(path)
        columns = source.schema_arrow.names
    if cfg.text_field not in columns:
        raise InputError(path, f"has no column '{cfg.text_field}' (input.text_field); its columns: "
                               f"{', '.join(columns)}")
    groups = list(range(start, stop if stop is not None else source.num_row_groups))
    row = first_line - 1
    with input_errors(path, WHAT["parquet"]):
        batches = source.iter_batches(batch_size=1024, row_groups=groups) if groups else iter(())
        for batch in batches:
            for record in batch.to_pylist():
                row += 1
                tally.lines += 1
                doc = _record_to_document(record, path, row, cfg, skips, tally)
                if doc is not None:
                    yield doc


def _read_text_file(path: Path, skips: SkipLog, tally: Tally) -> str | None:
    tally.lines += 1
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        tally.skip(skips, place(path, 1), "invalid_utf8", f"byte {err.start}")
        return None
    tally.records += 1
    return text


def read_txt(path: Path, cfg: InputConfig, skips: SkipLog, tally: Tally) -> Iterator[Document]:
    text = _read_text_file(path, skips, tally)
    if text is not None:
        yield Document(_stem(path), text, {"path": str(path)}, place(path, 1))


def extract_html(html: str | bytes, url: str | None, main_text: bool) -> tuple[str, dict]:
    """Main text (trafilatura) or all visible text of an HTML page, with title/date metadata."""
    trafilatura = require("trafilatura", "web", "HTML extraction")
    if not main_text:
        return trafilatura.html2txt(html) or "", {}
    result = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                         include_tables=True)
    if result is None:
        return "", {}
    meta = {k: getattr(result, k, None) for k in ("title", "date")}
    return result.text or "", {k: v for k, v in meta.items() if v}


def read_html(path: Path, cfg: InputConfig, skips: SkipLog, tally: Tally) -> Iterator[Document]:
    html = path.read_bytes()
    text, meta = extract_html(html, None, cfg.extract_main_text)
    if not text:
        skips.skip(place(path, 1), "no_main_text", "the extractor found no text")
        return
    yield Document(_stem(path), text, {"path": str(path), **meta}, place(path, 1))


def read_warc(path: Path, cfg: InputConfig, skips: SkipLog, tally: Tally) -> Iterator[Document]:
    warcio = require("warcio.archiveiterator", "web", "WARC input")
    with open(path, "rb") as handle, input_errors(path, WHAT["warc"]):
        for number, record in enumerate(warcio.ArchiveIterator(handle), start=1):
            if record.rec_type != "response":
                continue
            ctype = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
            if "html" not in ctype.lower():
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date")
            text, meta = extract_html(record.content_stream().read(), url, cfg.extract_main_text)
            if not text:
                skips.skip(place(path, number), "no_main_text", url or "")
                continue
            doc_id = record.rec_headers.get_header("WARC-Record-ID") or f"{_stem(path)}-{number}"
            meta = {"url": url, "warc_date": date, **meta}
            yield Document(doc_id.strip("<>"), text, meta, place(path, number))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
