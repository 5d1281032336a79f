import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from jaforge.io.readers import InputConfig, detect_format, read_documents
from jaforge.io.skips import SkipLog
from jaforge.corpus.tasks import byte_range_tasks, plan_tasks
from jaforge.errors import InputError

from conftest import REPO, write_jsonl

TEXT = "これは読み込みのテストに使う日本語の文章です。"


def read(path, part=None, **kw):
    skips = SkipLog()
    docs = list(read_documents(path, InputConfig(**kw), skips, part))
    return docs, skips.counts


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_variants_with_metadata(tmp_path, suffix):
    lines = "".join(json.dumps({"id": f"d{i}", "body": TEXT, "url": f"https://example.jp/{i}"},
                               ensure_ascii=False) + "\n" for i in range(3)).encode("utf-8")
    path = tmp_path / f"in{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(lines))
    elif suffix.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    else:
        path.write_bytes(lines)
    docs, skipped = read(path, text_field="body")
    assert [d.id for d in docs] == ["d0", "d1", "d2"]
    assert docs[1].text == TEXT and docs[1].meta == {"url": "https://example.jp/1"}
    assert docs[2].source == f"{path}:3" and not skipped


def test_bad_input_is_counted_with_file_and_line(tmp_path, caplog):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"text": TEXT}, ensure_ascii=False).encode()
    path.write_bytes(b"\n".join([
        good,
        b'{"text": "\xff\xfe broken"}',          # 2: invalid UTF-8
        b'{"text": "unterminated',               # 3: malformed JSON
        json.dumps({"body": TEXT}).encode(),     # 4: missing text field
        json.dumps({"text": "a\u0000b"}).encode(),  # 5: NUL byte
        b"[1, 2]",                               # 6: not an object
        json.dumps({"text": "x" * 50}).encode(), # 7: too large for the limit below
        json.dumps({"text": "   "}).encode(),    # 8: empty
        good,
    ]) + b"\n")
    with caplog.at_level("WARNING"):
        docs, skipped = read(path, max_doc_chars=40)
    assert [d.id for d in docs] == ["bad-1", "bad-9"]
    assert skipped == {"invalid_utf8": 1, "malformed_json": 1, "missing_text_field": 1,
                       "contains_nul": 1, "not_an_object": 1, "too_large": 1, "empty_text": 1}
    assert f"{path}:2" in caplog.text and "invalid_utf8" in caplog.text


def test_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert read(path) == ([], {})


def test_single_huge_document_is_skipped_not_crashing(tmp_path):
    path = write_jsonl(tmp_path / "huge.jsonl", [{"text": "あ" * 2_000_000}, {"text": TEXT}])
    docs, skipped = read(path, max_doc_chars=1_000_000)
    assert len(docs) == 1 and skipped == {"too_large": 1}


def test_parquet_txt_and_format_detection(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["p1"], "text": [TEXT], "lang": ["ja"]}), tmp_path / "a.parquet")
    docs, _ = read(tmp_path / "a.parquet")
    assert docs[0].id == "p1" and docs[0].meta == {"lang": "ja"}
    (tmp_path / "note.txt").write_text(TEXT, encoding="utf-8")
    docs, _ = read(tmp_path / "note.txt")
    assert docs[0].id == "note" and docs[0].text == TEXT
    assert detect_format("x.warc.gz") == "warc" and detect_format("x.jsonl.zst") == "jsonl"
    with pytest.raises(ValueError, match="input.format"):
        detect_format("x.docx")


def test_html_main_text_and_warc(tmp_path):
    pytest.importorskip("trafilatura")
    warcio = pytest.importorskip("warcio")
    body = "".join(f"<p>{TEXT}段落{i}の内容がここに続きます。</p>" for i in range(6))
    html = (f"<html><head><title>題名</title></head><body><nav><a>ホーム</a> <a>会社概要</a></nav>"
            f"<article><h1>題名</h1>{body}</article><footer>Copyright サイト名</footer></body></html>")
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    docs, _ = read(tmp_path / "page.html")
    assert "段落3の内容" in docs[0].text and "会社概要" not in docs[0].text

    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(tmp_path / "crawl.warc.gz", "wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                   protocol="HTTP/1.1")
        record = writer.create_warc_record("https://example.jp/page", "response",
                                           payload=BytesIO(html.encode()), http_headers=headers)
        writer.write_record(record)
    docs, _ = read(tmp_path / "crawl.warc.gz")
    assert docs[0].meta["url"] == "https://example.jp/page" and docs[0].meta["warc_date"]
    assert "段落5の内容" in docs[0].text
    del warcio


def test_a_100_mb_document_is_skipped_with_its_place(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"id": "big", "text": "')
        chunk = ("あ" * 1_000_000).encode("utf-8")  # 3 MB
        for _ in range(34):
            f.write(chunk)
        f.write(b'"}\n')
        f.write(json.dumps({"id": "small", "text": TEXT}, ensure_ascii=False).encode() + b"\n")
    assert path.stat().st_size > 100_000_000
    docs, skipped = read(path)
    assert [d.id for d in docs] == ["small"] and skipped == {"too_large": 1}


# --- one bad line never stops a run; a file that is not what it claims does -----------------------

def test_lines_that_break_json_parsers_are_skipped_with_their_reason(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join([
        b"[" * 10_000 + b"]" * 10_000,                        # 1: nested 10,000 deep
        b'{"text": "x", "n": ' + b"7" * 5_000 + b"}",         # 2: a 5,000-digit integer
        b'{"text": "lone \\ud800 surrogate"}',                 # 3: a lone surrogate escape
        b'{"text": "pair \\ud83d\\ude00 is fine"}',            # 4: a valid surrogate pair
        b'{"text": "nan", "score": NaN}',                      # 5: NaN is read (written as null)
    ]) + b"\n")
    docs, skipped = read(path)
    assert [d.source for d in docs] == [f"{path}:4", f"{path}:5"]
    assert docs[0].text == "pair \U0001F600 is fine"
    assert skipped == {"json_too_deep": 1, "json_value_too_large": 1, "lone_surrogate": 1}


def test_a_utf8_byte_order_mark_is_not_a_malformed_line(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": TEXT}).encode() + b"\n")
    docs, skipped = read(path)
    assert [d.id for d in docs] == ["a"] and not skipped


@pytest.mark.parametrize("name,content", [
    ("utf16.jsonl", ('{"text": "%s"}\n' % TEXT * 3).encode("utf-16")),
    ("gzipped.jsonl", gzip.compress(('{"text": "%s"}\n' % TEXT * 3).encode())),
    ("other_field.jsonl", ('{"body": "%s"}\n' % TEXT * 3).encode()),
])
def test_a_file_without_one_readable_record_is_an_error_naming_it(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"{name}: no record could be read from its \d+ non-empty"):
        read(path)


def test_parquet_without_the_text_column_is_an_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["p1"], "body": [TEXT]}), tmp_path / "a.parquet")
    with pytest.raises(InputError, match=r"a\.parquet: has no column 'text'.*body"):
        read(tmp_path / "a.parquet")


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "fake.jsonl.zst", "fake.jsonl.gz", "fake.parquet"])
def test_truncated_or_fake_compressed_files_are_errors_naming_them(tmp_path, name):
    if name.endswith("parquet"):
        pytest.importorskip("pyarrow")
    lines = ('{"text": "%s"}\n' % TEXT * 2000).encode()
    whole = gzip.compress(lines)
    data = whole[: len(whole) // 2] if name.startswith("cut") else b"not compressed at all\n" * 10
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=rf"{name}: cannot be read as"):
        read(tmp_path / name)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_command_line_reports_a_bad_file_in_one_line(tmp_path, workers):
    """Also from a worker process: the error crosses the process boundary unchanged."""
    whole = gzip.compress(b'{"text": "x"}\n' * 5000)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    write_jsonl(tmp_path / "in" / "good.jsonl", [{"text": TEXT * 20}] * 3)
    result = subprocess.run(
        [sys.executable, "-m", "jaforge.cli", "corpus", "--input.paths", f"[{tmp_path / 'in'}]",
         "--output_dir", str(tmp_path / "out"), "--executor.progress", "false",
         "--executor.workers", workers],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 1
    assert result.stderr.strip().endswith("bad.jsonl.gz: cannot be read as JSON lines (UTF-8, one "
                                          "object a line), gzip-compressed: Compressed file ended "
                                          "before the end-of-stream marker was reached")
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "data").exists()


# --- parts of a big file ---------------------------------------------------------------------------

def test_byte_range_parts_read_every_line_once_with_its_number(tmp_path):
    records = [{"text": f"{TEXT}{i}" + "あ" * (i % 37)} for i in range(500)]
    path = write_jsonl(tmp_path / "big.jsonl", records)
    tasks = byte_range_tasks(str(path), task_bytes=7_000)
    assert len(tasks) > 5 and tasks[0].start == 0 and tasks[-1].stop == path.stat().st_size
    parts = [read(path, part=(t.unit, t.start, t.stop, t.first_line))[0] for t in tasks]
    whole, _ = read(path)
    assert [(d.id, d.text, d.source) for p in parts for d in p] == \
        [(d.id, d.text, d.source) for d in whole]
    assert all(p for p in parts)


def test_plans_split_big_jsonl_and_parquet_but_not_compressed_files(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    records = [{"id": f"r{i}", "text": f"{TEXT}{i}{TEXT[i % 20:]}{i * 7919}"} for i in range(2_000)]
    write_jsonl(tmp_path / "a.jsonl", records)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress((tmp_path / "a.jsonl").read_bytes()))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "c.parquet", row_group_size=100)
    tasks = plan_tasks(InputConfig(paths=[str(tmp_path)], task_bytes=50_000))
    by_file = Counter(Path(t.files[0]).name for t in tasks)
    assert by_file["a.jsonl"] > 4 and by_file["b.jsonl.gz"] == 1 and by_file["c.parquet"] > 2
    assert tasks == plan_tasks(InputConfig(paths=[str(tmp_path)], task_bytes=50_000))
    parts = [t for t in tasks if t.files[0].endswith("c.parquet")]
    rows = [d.id for t in parts for d in read(t.files[0], part=(t.unit, t.start, t.stop, t.first_line))[0]]
    assert rows == [r["id"] for r in records]
