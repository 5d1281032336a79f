"""End-to-end runs of the corpus stage: outputs, statistics, bad input, formats, resume after a kill."""

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaforge.config import load_config
from jaforge.corpus import CorpusConfig, run
from jaforge.corpus.pipeline import RunLayout

from conftest import DATA, REPO, write_jsonl


def clean_docs(n: int = 12) -> list[dict]:
    docs = [json.loads(line) for line in (DATA / "ja" / "clean" / "essay.jsonl").open(encoding="utf-8")]
    return docs[:n]


def make_input(tmp_path: Path, shards: int = 3) -> Path:
    docs = clean_docs(12)
    inp = tmp_path / "in"
    for s in range(shards):
        part = docs[s::shards]
        if s == 1:  # a copy of an earlier shard's document, a near copy, and junk
            part = part + [dict(docs[0], id="copy"),
                           dict(docs[3], id="near", text=docs[3]["text"] + "\n以上、ご参考までに。"),
                           {"id": "short", "text": "短すぎる文書です。"}]
        write_jsonl(inp / f"part{s}.jsonl", part)
    (inp / "broken.jsonl").write_bytes(b'{"text": "\xff\xfe"}\n{not json}\n')
    return inp


def config(tmp_path: Path, inp: Path, **overrides) -> CorpusConfig:
    pairs = [("input.paths", f"[{inp}]"), ("output.dir", str(tmp_path / "out")),
             ("executor.progress", "false"), ("output.write_rejects", "true")]
    pairs += [(k, v) for k, v in overrides.items()]
    return load_config(CorpusConfig, None, pairs)


def read_shards(out: Path) -> list[dict]:
    records = []
    for shard in sorted((out / "data").glob("part-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return records


def test_end_to_end_outputs_and_stats(tmp_path):
    inp = make_input(tmp_path)
    stats = run(config(tmp_path, inp))
    out = tmp_path / "out"
    kept = {r["id"] for r in read_shards(out)}
    assert {"copy", "near", "short"}.isdisjoint(kept) and len(kept) == 12
    assert stats.steps["exact_dedup"].drops == {"exact_duplicate": 1}
    assert stats.steps["near_dedup"].drops == {"near_duplicate": 1}
    assert stats.steps["min_length"].drops == {"min_length": 1}
    assert stats.skipped == {"invalid_utf8": 1, "malformed_json": 1}
    first = stats.steps["normalize"]
    assert first.docs_in == 15 and stats.steps["pii"].docs_out == 12
    for name in ("config.yaml", "stats.json", "summary.md", "skipped.jsonl"):
        assert (out / name).exists(), name
    assert "broken.jsonl:2" in (out / "skipped.jsonl").read_text(encoding="utf-8")
    rejects = [json.loads(line) for p in sorted((out / "rejects").glob("*.jsonl.gz"))
               for line in gzip.open(p, "rt", encoding="utf-8")]
    assert {(r["id"], r["reason"]) for r in rejects} == {
        ("copy", "exact_duplicate"), ("near", "near_duplicate"), ("short", "min_length")}


def test_same_config_same_bytes_and_parallel_equals_serial(tmp_path):
    inp = make_input(tmp_path)
    run(config(tmp_path / "a", inp))
    run(config(tmp_path / "b", inp, **{"executor.workers": "2"}))
    for shard in sorted((tmp_path / "a" / "out" / "data").iterdir()):
        twin = tmp_path / "b" / "out" / "data" / shard.name
        assert shard.read_bytes() == twin.read_bytes()


def test_parquet_and_jsonl_are_readable_by_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    inp = make_input(tmp_path)
    run(config(tmp_path / "p", inp, **{"output.format": "parquet"}))
    run(config(tmp_path / "j", inp))
    pq = datasets.load_dataset("parquet", data_files=str(tmp_path / "p/out/data/*.parquet"), split="train")
    js = datasets.load_dataset("json", data_files=str(tmp_path / "j/out/data/*.jsonl.gz"), split="train")
    assert len(pq) == len(js) == 12 and set(pq["id"]) == set(js["id"])
    assert {"id", "text", "metadata"} <= set(pq.column_names)


def test_config_change_in_an_existing_run_is_refused(tmp_path):
    inp = make_input(tmp_path)
    run(config(tmp_path, inp))
    with pytest.raises(RuntimeError, match="different config"):
        run(config(tmp_path, inp, **{"dedup.bands": "10"}))


def test_unknown_rule_in_config_fails_before_work(tmp_path):
    inp = make_input(tmp_path)
    with pytest.raises(KeyError, match="did you mean 'min_length'"):
        run(config(tmp_path, inp, **{"quality.disable": "[min_lenght]"}))


def _corpus_command(tmp_path: Path, inp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "jaforge.cli", "corpus", "--input.paths", f"[{inp}]",
            "--output.dir", str(out), "--executor.workers", "2", "--executor.progress", "false"]


def test_killed_run_resumes_to_identical_output(tmp_path):
    docs = [json.loads(line) for p in sorted((DATA / "ja" / "clean").glob("*.jsonl"))
            for line in p.open(encoding="utf-8")]
    inp = tmp_path / "in"
    for s in range(16):
        write_jsonl(inp / f"part{s:02d}.jsonl", docs[s::16])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    reference = tmp_path / "ref"
    subprocess.run(_corpus_command(tmp_path, inp, reference), check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    stop_after = random.Random().randint(1, 20)  # a marker count somewhere in the run
    proc = subprocess.Popen(_corpus_command(tmp_path, inp, out), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if len(list((out / "work" / "done").glob("*"))) >= stop_after:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    subprocess.run(_corpus_command(tmp_path, inp, out), check=True, env=env, capture_output=True)
    ref_shards = sorted((reference / "data").iterdir())
    assert [p.name for p in ref_shards] == sorted(p.name for p in (out / "data").iterdir())
    for shard in ref_shards:
        assert shard.read_bytes() == (out / "data" / shard.name).read_bytes(), shard.name
    assert not list((out / "data").glob("*.tmp"))
    assert json.loads((out / "stats.json").read_text()) == json.loads((reference / "stats.json").read_text())


def test_ray_executor_on_a_local_cluster(tmp_path):
    ray = pytest.importorskip("ray")
    inp = make_input(tmp_path)
    run(config(tmp_path / "local", inp))
    try:
        run(config(tmp_path / "ray", inp, **{"executor.kind": "ray", "executor.workers": "2"}))
    finally:
        ray.shutdown()
    assert read_shards(tmp_path / "ray" / "out") == read_shards(tmp_path / "local" / "out")
