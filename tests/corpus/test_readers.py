import gzip
import json

import pytest
import zstandard

from jaforge.corpus.config import InputConfig
from jaforge.corpus.readers import detect_format, read_documents
from jaforge.corpus.skips import SkipLog

from conftest import write_jsonl

TEXT = "これは読み込みのテストに使う日本語の文章です。"


def read(path, **kw):
    skips = SkipLog()
    docs = list(read_documents(path, InputConfig(**kw), skips))
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
