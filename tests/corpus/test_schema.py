"""One schema per run: every shard (and every rejects shard) of a run over every reader, the PII file
and metadata of clashing types loads with one `datasets.load_dataset` call; nothing non-finite is
written."""

import gzip
import json
import shutil

import pytest
import zstandard

from jaforge.config import load_config
from jaforge.corpus import CorpusConfig, run

from conftest import DATA, write_jsonl

datasets = pytest.importorskip("datasets")


def mixed_input(tmp_path):
    """JSONL (plain, .gz, .zst) with different metadata fields and types, NaN and infinity,
    Parquet, .txt, HTML, WARC and the PII file."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("trafilatura")
    pytest.importorskip("warcio")
    docs = [json.loads(line) for line in (DATA / "ja" / "clean" / "news.jsonl").open(encoding="utf-8")]
    inp = tmp_path / "in"
    write_jsonl(inp / "genre.jsonl", docs[:6])                               # {genre: str}
    lines = "".join(json.dumps({"id": d["id"], "text": d["text"], "score": score, "tags": [1, 2]},
                               ensure_ascii=False) + "\n"
                    for d, score in zip(docs[6:12], [0.5, float("nan"), float("inf"), 3, None, -1e9]))
    (inp / "scored.jsonl.gz").write_bytes(gzip.compress(lines.encode()))    # NaN, inf, list
    (inp / "other.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        "".join(json.dumps({"text": d["text"], "genre": {"main": "news"}}, ensure_ascii=False) + "\n"
                for d in docs[12:16]).encode()))                            # genre: a struct now
    pq.write_table(pa.table({"id": [d["id"] + "p" for d in docs[16:20]],
                             "text": [d["text"] + "(再録)" for d in docs[16:20]],
                             "views": [1, 2, 3, 4]}), inp / "table.parquet")
    (inp / "note.txt").write_text(docs[20]["text"], encoding="utf-8")
    shutil.copy(DATA / "html" / "page-00.html", inp / "page.html")
    shutil.copy(DATA / "warc" / "sample.warc.gz", inp / "crawl.warc.gz")
    shutil.copy(DATA / "ja" / "noisy" / "pii.jsonl", inp / "pii.jsonl")     # {pii: [{type, value}]}
    write_jsonl(inp / "short.jsonl", [{"id": "s", "text": "短い。", "n": float("nan")}])
    return inp


@pytest.mark.parametrize("fmt,builder,pattern", [("jsonl.gz", "json", "*.jsonl.gz"),
                                                 ("parquet", "parquet", "*.parquet")])
def test_every_shard_of_a_mixed_run_loads_as_one_dataset(tmp_path, fmt, builder, pattern):
    inp = mixed_input(tmp_path)
    out = tmp_path / "out"
    cfg = load_config(CorpusConfig, None, [
        ("input.paths", f"[{inp}]"), ("output_dir", str(out)), ("output.format", fmt),
        ("output.write_rejects", "true"), ("executor.progress", "false")])
    result = run(cfg)
    shards = sorted(str(p) for p in (out / "data").glob(pattern))
    rejects = sorted(str(p) for p in (out / "rejects").glob(pattern))
    assert len(shards) >= 6 and len(rejects) >= 2
    kept = datasets.load_dataset(builder, data_files=shards, split="train")
    dropped = datasets.load_dataset(builder, data_files=rejects, split="train")
    assert kept.column_names == ["id", "text", "source", "metadata"]
    assert dropped.column_names == ["id", "text", "source", "metadata", "step", "reason"]
    assert len(kept) == result.metrics["docs_out"]
    sources = {s.rsplit(":", 1)[0].rsplit("/", 1)[-1] for s in list(kept["source"]) + list(dropped["source"])}
    assert {"genre.jsonl", "scored.jsonl.gz", "other.jsonl.zst", "table.parquet", "note.txt",
            "page.html", "crawl.warc.gz", "pii.jsonl"} <= sources
    metadata = [json.loads(m) for m in kept["metadata"]]  # standard JSON, never NaN
    scores = [m["score"] for m in metadata if "score" in m]
    assert None in scores and all(s is None or abs(s) < float("inf") for s in scores)
    assert any("pii" in m for m in metadata) and any(isinstance(m.get("genre"), dict) for m in metadata)


def test_non_finite_numbers_are_never_written(tmp_path):
    inp = tmp_path / "in"
    docs = [json.loads(line) for line in (DATA / "ja" / "clean" / "essay.jsonl").open(encoding="utf-8")]
    write_jsonl(inp / "a.jsonl", [dict(d, score=float("nan"), big=float("-inf")) for d in docs[:3]])
    cfg = load_config(CorpusConfig, None, [("input.paths", f"[{inp}]"), ("output_dir", str(tmp_path / "o")),
                                           ("output.format", "jsonl"), ("executor.progress", "false")])
    run(cfg)
    text = "".join(p.read_text("utf-8") for p in (tmp_path / "o").rglob("*")
                   if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".yaml"))
    assert "NaN" not in text and "Infinity" not in text
    for line in (tmp_path / "o" / "data" / "part-00000.jsonl").open(encoding="utf-8"):
        assert json.loads(json.loads(line)["metadata"]) == {"genre": "essay", "score": None, "big": None}
