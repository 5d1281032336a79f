"""End-to-end runs of the corpus stage: outputs, statistics, the run directory, formats, resume after
a kill, config ranges."""

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
from jaforge.errors import ConfigError, RunDirError
from jaforge.stage_result import StageResult

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
    # read first (sorted): its good document is the original, the essay's first the near copy
    (inp / "broken.jsonl").write_bytes(b'{"text": "\xff\xfe"}\n{not json}\n' + json.dumps(
        {"id": "ok", "text": docs[0]["text"] + "別の結び。"}, ensure_ascii=False).encode() + b"\n")
    return inp


def config(tmp_path: Path, inp: Path, **overrides) -> CorpusConfig:
    pairs = [("input.paths", f"[{inp}]"), ("output_dir", str(tmp_path / "out")),
             ("executor.progress", "false"), ("output.write_rejects", "true")]
    pairs += [(k, v) for k, v in overrides.items()]
    return load_config(CorpusConfig, None, pairs)


def read_shards(out: Path, folder: str = "data") -> list[dict]:
    records = []
    for shard in sorted((out / folder).glob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return records


def test_end_to_end_outputs_and_stats(tmp_path):
    inp = make_input(tmp_path)
    result = run(config(tmp_path, inp))
    out = tmp_path / "out"
    kept = {r["id"] for r in read_shards(out)}
    assert {"copy", "near", "short"}.isdisjoint(kept) and "ok" in kept and len(kept) == 12
    assert isinstance(result, StageResult) and result.stage == "corpus"
    m = result.metrics
    assert (m["docs_in"], m["docs_out"]) == (16, 12)
    assert m["drops"] == {"exact_dedup": 1, "near_dedup": 2, "min_length": 1}
    assert m["skipped"] == {"invalid_utf8": 1, "malformed_json": 1}
    assert m["chars_out"] == sum(len(r["text"]) for r in read_shards(out))
    assert set(result.outputs) == {"data", "rejects", "stats", "summary", "skipped"}
    assert "| near_dedup |" in result.markdown()
    for name in ("config.yaml", "stats.json", "summary.md", "skipped.jsonl", "result.json"):
        assert (out / name).exists(), name
    assert StageResult.read(out / "result.json").metrics == json.loads(json.dumps(m))
    assert "broken.jsonl:2" in (out / "skipped.jsonl").read_text(encoding="utf-8")
    rejects = read_shards(out, "rejects")
    assert {(r["id"], r["reason"]) for r in rejects} == {
        ("copy", "exact_duplicate"), ("near", "near_duplicate"), ("ja-essay-001", "near_duplicate"),
        ("short", "min_length")}


def test_same_config_same_bytes_and_parallel_equals_serial(tmp_path):
    inp = make_input(tmp_path)
    run(config(tmp_path / "a", inp))
    run(config(tmp_path / "b", inp, **{"executor.workers": "2"}))
    shards = sorted((tmp_path / "a" / "out" / "data").iterdir())
    assert shards
    for shard in shards:
        twin = tmp_path / "b" / "out" / "data" / shard.name
        assert shard.read_bytes() == twin.read_bytes()


def test_a_changed_config_is_refused_but_the_executor_may_change(tmp_path):
    inp = make_input(tmp_path)
    run(config(tmp_path, inp))
    with pytest.raises(RunDirError, match="dedup.bands"):
        run(config(tmp_path, inp, **{"dedup.bands": "10"}))
    run(config(tmp_path, inp, **{"executor.workers": "2"}))  # resumes: nothing left to do


def test_a_second_run_on_the_same_directory_fails_clearly(tmp_path):
    inp = make_input(tmp_path)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaforge.rundir import run_lock\n"
         f"with run_lock({str(out)!r}, 'corpus'):\n    print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match="in use by another run"):
            run(config(tmp_path, inp))
    finally:
        holder.kill()
        holder.wait()


def test_no_input_is_a_config_error_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="input.paths"):
        run(load_config(CorpusConfig, None, []))
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="nothing matches"):
        run(config(tmp_path, tmp_path / "missing"))


@pytest.mark.parametrize("key,value", [
    ("executor.workers", "-4"), ("input.max_doc_chars", "-1"), ("dedup.bands", "0"),
    ("dedup.rows", "0"), ("dedup.ngram", "0"), ("dedup.ngram", "-3"),
    ("language.min_japanese_ratio", "1.5"), ("input.task_bytes", "0"),
])
def test_out_of_range_values_are_refused(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config(tmp_path, tmp_path, **{key: value})


@pytest.mark.parametrize("params", ["{min_length: {min_chars: -5}}",
                                    "{duplicate_lines: {max_ratio: 2}}"])
def test_out_of_range_rule_parameters_are_refused_before_work(tmp_path, params):
    inp = make_input(tmp_path)
    with pytest.raises(ConfigError, match="out of range"):
        run(config(tmp_path, inp, **{"quality.params": params}))
    assert not (tmp_path / "out" / "data").exists()


def test_unknown_rule_in_config_fails_before_work(tmp_path):
    inp = make_input(tmp_path)
    with pytest.raises(KeyError, match="did you mean 'min_length'"):
        run(config(tmp_path, inp, **{"quality.disable": "[min_lenght]"}))


def _corpus_command(inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jaforge.cli", "corpus", "--input.paths", f"[{inp}]",
            "--output_dir", str(out), "--executor.workers", "2", "--executor.progress", "false",
            *extra]


def kill_and_resume(tmp_path: Path, inp: Path, *extra: str) -> tuple[Path, Path]:
    """A reference run, and a run killed after a random number of task markers then resumed."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    reference = tmp_path / "ref"
    subprocess.run(_corpus_command(inp, reference, *extra), check=True, env=env, capture_output=True)
    markers = len(list((reference / "work" / "done").glob("*")))
    out = tmp_path / "killed"
    stop_after = random.Random().randint(1, markers - 1)
    proc = subprocess.Popen(_corpus_command(inp, out, *extra), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if len(list((out / "work" / "done").glob("*"))) >= stop_after:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    subprocess.run(_corpus_command(inp, out, *extra), check=True, env=env, capture_output=True)
    return reference, out


def assert_same_run(reference: Path, out: Path) -> None:
    ref_shards = sorted((reference / "data").iterdir())
    assert ref_shards and [p.name for p in ref_shards] == sorted(p.name for p in (out / "data").iterdir())
    for shard in ref_shards:
        assert shard.read_bytes() == (out / "data" / shard.name).read_bytes(), shard.name
    assert not list((out / "data").glob("*.tmp"))
    assert json.loads((out / "stats.json").read_text()) == json.loads((reference / "stats.json").read_text())


def test_killed_run_resumes_to_identical_output(tmp_path):
    docs = [json.loads(line) for p in sorted((DATA / "ja" / "clean").glob("*.jsonl"))
            for line in p.open(encoding="utf-8")]
    inp = tmp_path / "in"
    for s in range(16):
        write_jsonl(inp / f"part{s:02d}.jsonl", docs[s::16])
    assert_same_run(*kill_and_resume(tmp_path, inp))


def test_ray_executor_on_a_local_cluster(tmp_path):
    ray = pytest.importorskip("ray")
    inp = make_input(tmp_path)
    run(config(tmp_path / "local", inp))
    try:
        run(config(tmp_path / "ray", inp, **{"executor.kind": "ray", "executor.workers": "2"}))
    finally:
        ray.shutdown()
    assert read_shards(tmp_path / "ray" / "out") == read_shards(tmp_path / "local" / "out")


def one_big_file(tmp_path: Path) -> Path:
    docs = [json.loads(line) for p in sorted((DATA / "ja" / "clean").glob("*.jsonl"))
            for line in p.open(encoding="utf-8")]
    return write_jsonl(tmp_path / "in" / "dump.jsonl", docs + [dict(docs[5], id="copy")])


def test_one_big_file_is_split_and_any_worker_count_writes_the_same_bytes(tmp_path):
    path = one_big_file(tmp_path)
    split = {"input.task_bytes": "60000"}
    run(config(tmp_path / "one", path, **split))
    result = run(config(tmp_path / "two", path, **split, **{"executor.workers": "2"}))
    run(config(tmp_path / "whole", path))
    one, two = (sorted((tmp_path / k / "out" / "data").iterdir()) for k in ("one", "two"))
    assert len(one) >= 10 and [p.name for p in one] == [p.name for p in two]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))
    # The split changes the shards, not their records: the same documents in the same order.
    assert read_shards(tmp_path / "one" / "out") == read_shards(tmp_path / "whole" / "out")
    assert result.metrics["drops"]["exact_dedup"] == 1 and result.metrics["docs_in"] == 325


def test_killed_run_over_one_split_file_resumes_to_identical_output(tmp_path):
    path = one_big_file(tmp_path)
    assert_same_run(*kill_and_resume(tmp_path, path, "--input.task_bytes", "40000"))


def test_a_resumed_run_over_changed_input_is_refused(tmp_path):
    path = one_big_file(tmp_path)
    run(config(tmp_path, path, **{"input.task_bytes": "60000"}))
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "late", "text": clean_docs(1)[0]["text"] * 3}, ensure_ascii=False) + "\n")
    with pytest.raises(RunDirError, match="other input files"):
        run(config(tmp_path, path, **{"input.task_bytes": "60000"}))
