"""Readers: JSONL (plain, .gz, .zst), Parquet, .txt files, HTML files and WARC archives → Documents.

Every reader yields `Document`s with `source` set to `file:line` (line = JSONL line, Parquet row,
WARC record) and reports bad input to a `SkipLog` instead of raising: invalid UTF-8, malformed
JSON, a missing text field, NUL bytes and oversized documents are counted with their reason.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import IO, Any, Iterator

from jaforge.corpus.config import InputConfig
from jaforge.corpus.document import Document
from jaforge.corpus.skips import SkipLog, place
from jaforge.extras import require

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".json.zst",
                  ".ndjson", ".ndjson.gz", ".ndjson.zst")
FORMAT_BY_SUFFIX = {
    **{s: "jsonl" for s in JSONL_SUFFIXES},
    ".parquet": "parquet", ".txt": "txt", ".html": "html", ".htm": "html",
    ".warc": "warc", ".warc.gz": "warc", ".arc.gz": "warc",
}


def detect_format(path: str | Path) -> str:
    name = str(path).lower()
    for suffix in sorted(FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMAT_BY_SUFFIX[suffix]
    raise ValueError(f"{path}: cannot tell the format from the extension; set input.format "
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


def read_documents(path: str | Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    fmt = cfg.format if cfg.format != "auto" else detect_format(path)
    reader = {"jsonl": read_jsonl, "parquet": read_parquet, "txt": read_txt,
              "html": read_html, "warc": read_warc}[fmt]
    for doc in reader(Path(path), cfg, skips):
        if _acceptable(doc, cfg, skips):
            yield doc


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


def _record_to_document(record: Any, path: Path, line: int, cfg: InputConfig,
                        skips: SkipLog) -> Document | None:
    where = place(path, line)
    if not isinstance(record, dict):
        skips.skip(where, "not_an_object", f"expected a JSON object, got {type(record).__name__}")
        return None
    text = record.get(cfg.text_field)
    if not isinstance(text, str):
        reason = "missing_text_field" if text is None else "text_not_a_string"
        skips.skip(where, reason, f"field '{cfg.text_field}'")
        return None
    doc_id = record.get(cfg.id_field)
    doc_id = str(doc_id) if doc_id is not None else f"{_stem(path)}-{line}"
    if cfg.metadata_fields is None:
        meta = {k: v for k, v in record.items() if k not in (cfg.text_field, cfg.id_field)}
    else:
        meta = {k: record[k] for k in cfg.metadata_fields if k in record}
    return Document(doc_id, text, meta, where)


def read_jsonl(path: Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    with open_binary(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                skips.skip(place(path, line_no), "invalid_utf8", f"byte {err.start}")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                skips.skip(place(path, line_no), "malformed_json", err.msg)
                continue
            doc = _record_to_document(record, path, line_no, cfg, skips)
            if doc is not None:
                yield doc


def read_parquet(path: Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    pq = require("pyarrow.parquet", "parquet", "Parquet input")
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            row += 1
            doc = _record_to_document(record, path, row, cfg, skips)
            if doc is not None:
                yield doc


def _read_text_file(path: Path, skips: SkipLog) -> str | None:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        skips.skip(place(path, 1), "invalid_utf8", f"byte {err.start}")
        return None


def read_txt(path: Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    text = _read_text_file(path, skips)
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


def read_html(path: Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    html = path.read_bytes()
    text, meta = extract_html(html, None, cfg.extract_main_text)
    if not text:
        skips.skip(place(path, 1), "no_main_text", "the extractor found no text")
        return
    yield Document(_stem(path), text, {"path": str(path), **meta}, place(path, 1))


def read_warc(path: Path, cfg: InputConfig, skips: SkipLog) -> Iterator[Document]:
    warcio = require("warcio.archiveiterator", "web", "WARC input")
    with open(path, "rb") as handle:
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
