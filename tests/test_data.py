"""The embedded corpus data: every file is read by `jaforge.data`, and the data card holds.

The minimums below are the ones data/README.md promises; the actual counts are read from the
files (and the card's table is checked against `python -m jaforge.data_card`).
"""

import gzip
import json
import re
from collections import Counter

import pytest

from jaforge import data, data_card
from jaforge.io import records
from jaforge.io.records import DataError, read_jsonl, read_records

NOISY_LABELS = {"too_short", "ad_spam", "boilerplate", "repeated_lines", "repeated_ngrams",
                "mojibake", "non_japanese", "mostly_katakana", "mostly_symbols", "ellipsis_lists",
                "ng_words"}
PII_TYPES = {"email", "phone_jp", "my_number", "credit_card", "ipv4", "ipv6"}
NOT_DATA = {"README.md", "make_derived.py"}


@pytest.fixture(scope="module")
def clean():
    return data.japanese_clean()


@pytest.fixture(scope="module")
def clean_by_id(clean):
    return {doc["id"]: doc for doc in clean}


# ---------------------------------------------------------------------------- the data directory

def test_data_dir_finds_the_repository_data(monkeypatch, data_dir):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert data.data_dir() == data_dir


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.data_dir()


def test_data_dir_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (tmp_path / "checkout" / "src").mkdir(parents=True)
    monkeypatch.setattr(data, "__file__", str(tmp_path / "checkout" / "src" / "jaforge" / "data.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        data.data_dir()
    assert str(tmp_path / "checkout" / "data") in str(err.value)
    assert str(tmp_path / "data") in str(err.value)
    assert data.ENV_VAR in str(err.value)


# ---------------------------------------------------------------------------- reading JSON lines

def test_read_jsonl_names_file_and_line_of_a_malformed_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n\n{"id": "b", "text": \n', encoding="utf-8")
    records = read_jsonl(path)
    assert next(records)["id"] == "a"
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:3: malformed JSON"):
        next(records)


def test_read_jsonl_rejects_non_objects_and_bad_utf8(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"list.jsonl:1: expected a JSON object, got list"):
        list(read_jsonl(path))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "café"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.jsonl:1: not valid UTF-8"):
        list(read_jsonl(path))


def test_read_records_reads_json_arrays_and_gzip(tmp_path):
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"a": 1}, {"a": 2}]), encoding="utf-8")
    assert [where for where, _ in read_records(array)] == [f"{array}: record 1", f"{array}: record 2"]
    packed = tmp_path / "lines.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert [r["a"] for r in read_jsonl(packed)] == [1, 2]
    broken = tmp_path / "broken.json"
    broken.write_text('[{"a": 1},\n {"a": }]', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.json:2: malformed JSON"):
        list(read_records(broken))


def test_field_names_place_and_field():
    with pytest.raises(DataError, match=r"f.jsonl:4: field 'text' is missing; did you mean 'txt'"):
        records.field({"id": "a", "txt": "x"}, "text", str, "f.jsonl:4")
    with pytest.raises(DataError, match=r"f.jsonl:4: field 'n' should be int, got True"):
        records.field({"n": True}, "n", int, "f.jsonl:4")
    with pytest.raises(DataError, match=r"field 'label': 'entail' is not one of .*did you mean"):
        records.choice({"label": "entail"}, "label", ["entailment", "neutral"], "f.jsonl:4")


def test_a_corpus_file_missing_a_field_names_file_line_and_field(monkeypatch, tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "clean.jsonl").write_text(
        '{"id": "a", "genre": "news", "text": "x"}\n{"id": "b", "genre": "news"}\n', encoding="utf-8")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match=r"en/clean.jsonl:2: field 'text' is missing"):
        data.english_clean()


# ---------------------------------------------------------------------------- the embedded corpus

def test_clean_japanese_meets_the_card(clean):
    lengths = [len(doc["text"]) for doc in clean]
    assert len(clean) >= 300
    assert sum(lengths) >= 250_000
    assert len({doc["genre"] for doc in clean}) >= 10
    assert all(200 <= n <= 5_000 for n in lengths), (min(lengths), max(lengths))
    assert len({doc["id"] for doc in clean}) == len(clean)


def test_clean_japanese_genres_match_their_files(data_dir, clean):
    files = {p.stem for p in (data_dir / "ja" / "clean").glob("*.jsonl")}
    assert {doc["genre"] for doc in clean} == files
    news = data.japanese_clean(["news"])
    assert news and {doc["genre"] for doc in news} == {"news"}
    with pytest.raises(KeyError, match="did you mean 'news'"):
        data.japanese_clean(["nwes"])


def test_clean_english_meets_the_card():
    docs = data.english_clean()
    assert len(docs) >= 60
    assert sum(len(doc["text"]) for doc in docs) >= 80_000
    assert len({doc["id"] for doc in docs}) == len(docs)


def test_noisy_documents_show_every_defect():
    docs = data.noisy()
    assert len(docs) >= 150
    assert {doc["label"] for doc in docs} == NOISY_LABELS


def test_duplicates_point_at_existing_clean_documents(clean_by_id):
    near, exact = data.near_duplicates(), data.exact_duplicates()
    assert len(near) >= 40 and len(exact) >= 20
    for doc in near + exact:
        assert doc["duplicate_of"] in clean_by_id, doc["id"]
    for doc in exact:
        assert doc["text"] == clean_by_id[doc["duplicate_of"]]["text"], doc["id"]
    for doc in near:
        assert doc["text"] != clean_by_id[doc["duplicate_of"]]["text"], doc["id"]


def test_pii_values_are_in_their_texts():
    records = data.pii()
    assert len(records) >= 40
    types = Counter(item["type"] for r in records for item in r["pii"])
    assert set(types) == PII_TYPES, types
    for record in records:
        for item in record["pii"]:
            assert item["value"] in record["text"], (record["id"], item)


def test_html_pages_wrap_clean_documents(clean_by_id):
    pages = data.html_pages()
    assert len(pages) >= 30
    assert len({p.url for p in pages}) == len(pages)
    for page in pages:
        assert page.source_id in clean_by_id
        html = page.path.read_text(encoding="utf-8")
        assert "<html" in html and "</html>" in html


def test_warc_sample_is_readable():
    archive = pytest.importorskip("warcio.archiveiterator", reason="needs the 'web' extra")
    urls = {page.url for page in data.html_pages()}
    with open(data.warc_sample(), "rb") as handle:
        responses = [r for r in archive.ArchiveIterator(handle) if r.rec_type == "response"]
    assert responses
    for record in responses:
        assert record.rec_headers.get_header("WARC-Target-URI") in urls


# ---------------------------------------------------------------------------- the project's code

def test_source_code_documents_are_the_projects_own_files():
    docs = data.source_code_documents()
    ids = {doc["id"] for doc in docs}
    assert "src/jaforge/data.py" in ids and "pyproject.toml" in ids
    assert all(doc["genre"] == "code" and doc["text"].strip() for doc in docs)
    assert not any(i.startswith(".") or "/." in i or "__pycache__" in i for i in ids)


def test_source_code_documents_skip_hidden_venv_and_undecodable(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "pkg" / "notes.txt").write_text("not collected\n", encoding="utf-8")
    (tmp_path / "pkg" / "latin1.py").write_bytes("s = 'café'\n".encode("latin-1"))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.py").write_text("y = 2\n", encoding="utf-8")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (tmp_path / "env" / "c.py").write_text("z = 3\n", encoding="utf-8")
    docs = data.source_code_documents(tmp_path)
    assert docs == [{"id": "pkg/a.py", "genre": "code", "text": "x = 1\n"}]
    assert data.source_code_documents(tmp_path, suffixes=(".txt",))[0]["id"] == "pkg/notes.txt"


# ---------------------------------------------------------------------------- the data card

def test_every_embedded_file_is_on_the_card(data_dir):
    patterns = [pattern for pattern, _, _ in data_card.CARD]
    for path in data_dir.rglob("*"):
        if path.is_file() and path.name not in NOT_DATA and "__pycache__" not in path.parts:
            relative = path.relative_to(data_dir)
            assert any(relative.match(p) for p in patterns), f"{relative} is not on the data card"


def test_card_counts_agree_with_the_loaders(clean):
    rows = {row.file: row for row in data_card.card_rows()}
    assert rows["ja/clean/*.jsonl"].records == len(clean)
    assert rows["ja/clean/*.jsonl"].chars == sum(len(doc["text"]) for doc in clean)
    assert rows["ja/noisy/pii.jsonl"].records == len(data.pii())
    assert rows["html/page-*.html"].records == len(data.html_pages())


def test_readme_table_is_up_to_date(data_dir, capsys):
    assert data_card.main() == 0
    table = capsys.readouterr().out.strip()
    readme = (data_dir / "README.md").read_text(encoding="utf-8")
    assert table in readme, ("data/README.md's counts table is stale: run `python -m jaforge.data_card` "
                             "and paste its output into the card")


def test_long_documents_are_long_and_say_what_they_hold():
    docs = data.japanese_long()
    assert len(docs) >= 40 and len({d["id"] for d in docs}) == len(docs)
    assert {d["genre"] for d in docs} == {"manual", "article", "tutorial"}
    assert all(5_000 <= len(d["text"]) <= 50_000 and d["title"] and d["features"] for d in docs)
    assert sum("code_blocks" in d["features"] for d in docs) >= 20
