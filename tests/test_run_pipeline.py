"""`jaforge run`: stages in order, references between them, finished work skipped by key, changed
work re-run with everything downstream, configs checked before anything runs, a report."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jaforge import pipeline
from jaforge.config import ConfigError
from jaforge.errors import MissingInputError
from jaforge.stage_result import StageResult

from conftest import DATA, REPO

pytest.importorskip("sentencepiece", reason="the tokenizer extra is not installed")


def recipe(tmp_path: Path, measure_docs: int = 20, vocab: int = 1500, extra: dict | None = None) -> Path:
    data = {
        "output_dir": str(tmp_path / "run"),
        "stages": {
            "tokenizer": {"sources": [{"name": "ja", "paths": ["data/ja/clean/news.jsonl",
                                                               "data/ja/clean/essay.jsonl"]}],
                          "trainer": {"vocab_size": vocab, "character_coverage": 0.98, "num_threads": 1}},
            "measure": {"stage": "tokenizer-measure", "tokenizer": "${tokenizer.tokenizer}",
                        "sources": [{"paths": ["data/ja/clean/story.jsonl"]}],
                        "morphology": False, "max_docs": measure_docs},
            **(extra or {}),
        },
    }
    path = tmp_path / "recipe.yaml"  # relative data/ paths resolve to the embedded data
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run(path: Path, overrides=()) -> tuple[pipeline.Pipeline, dict[str, StageResult]]:
    plan = pipeline.load_recipe(path, list(overrides))
    return plan, pipeline.execute(plan)


def statuses(plan) -> dict[str, str]:
    return {p.name: p.status for p in plan.stages}


def test_stages_run_in_order_and_a_second_run_skips_them(tmp_path):
    path = recipe(tmp_path)
    plan, results = run(path)
    assert statuses(plan) == {"tokenizer": "run", "measure": "run"}
    measured = json.loads((tmp_path / "run" / "measure" / "measure.json").read_text())
    assert measured["documents"] == 20 and measured["tokenizer"] == str(tmp_path / "run" / "tokenizer")
    assert results["tokenizer"].metrics["vocab_size"] == 1500
    stamp = (tmp_path / "run" / "tokenizer" / "tokenizer.json").stat().st_mtime_ns
    start = time.perf_counter()
    plan, again = run(path)
    assert time.perf_counter() - start < 5
    assert statuses(plan) == {"tokenizer": "skip", "measure": "skip"}
    assert again["measure"].metrics == results["measure"].metrics
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").stat().st_mtime_ns == stamp


def test_a_changed_stage_reruns_with_what_is_downstream_only(tmp_path):
    path = recipe(tmp_path)
    run(path)
    plan, results = run(recipe(tmp_path, measure_docs=10))
    assert statuses(plan) == {"tokenizer": "skip", "measure": "rerun"}
    assert results["measure"].metrics["documents"] == 10
    plan, results = run(recipe(tmp_path, measure_docs=10, vocab=1600))
    assert statuses(plan) == {"tokenizer": "rerun", "measure": "rerun"}
    assert results["tokenizer"].metrics["vocab_size"] == 1600


def test_a_stage_stopped_while_running_resumes_with_the_same_key(tmp_path):
    path = recipe(tmp_path)
    run(path)
    state_file = tmp_path / "run" / "measure" / pipeline.STATE_FILE
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "status": "running"}))
    plan, _ = run(path)
    assert statuses(plan) == {"tokenizer": "skip", "measure": "resume"}


def test_every_config_is_checked_before_the_first_stage_runs(tmp_path):
    bad_last = {"late": {"stage": "tokenizer-measure", "tokenizer": "${tokenizer.tokenizer}",
                         "sources": [{"paths": ["data/ja/clean/story.jsonl"]}], "max_dcos": 3}}
    with pytest.raises(ConfigError, match="'max_dcos'.*did you mean 'max_docs'"):
        run(recipe(tmp_path, extra=bad_last))
    assert not (tmp_path / "run" / "tokenizer").exists()
    missing = {"late": {"stage": "tokenizer-measure", "tokenizer": "${tokenizer.tokenizer}",
                        "sources": [{"paths": ["no/such/shards.jsonl"]}]}}
    with pytest.raises(MissingInputError, match="'stages.late.sources\\[0\\].paths\\[0\\]': no/such/shards.jsonl"):
        run(recipe(tmp_path, extra=missing))
    unknown = {"late": {"stage": "tokenizer-measure", "tokenizer": "${tokeniser.tokenizer}"}}
    with pytest.raises(ConfigError, match="tokeniser.tokenizer.*names no earlier stage"):
        run(recipe(tmp_path, extra=unknown))
    assert not (tmp_path / "run" / "tokenizer").exists()


def test_cli_dry_run_prints_the_plan_and_the_run_writes_a_report(tmp_path):
    path = recipe(tmp_path)
    cmd = [sys.executable, "-m", "jaforge.cli", "run", str(path)]
    dry = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert "| tokenizer | tokenizer | run |" in dry.stdout and not (tmp_path / "run" / "tokenizer").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "report:" in done.stdout
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "tokenizer" in html and "measure" in html and "<table>" in html
    again = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "| measure | tokenizer-measure | skip |" in again.stdout
    bad = subprocess.run(cmd + ["--stages.measure.max_docs", "0"], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "'max_docs'" in bad.stderr and "out of range" in bad.stderr


def test_relative_input_paths_follow_the_recipe_then_the_embedded_data(tmp_path):
    (tmp_path / "mine").mkdir()
    own = tmp_path / "mine" / "texts.jsonl"
    own.write_text((DATA / "ja" / "clean" / "qa.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    path = recipe(tmp_path, extra={"own": {"stage": "tokenizer-measure", "tokenizer": "${tokenizer.tokenizer}",
                                           "sources": [{"paths": ["mine/texts.jsonl"]}], "morphology": False}})
    plan, results = run(path)
    measured = json.loads((tmp_path / "run" / "own" / "measure.json").read_text())
    assert measured["documents"] == len(own.read_text(encoding="utf-8").splitlines())


def test_changing_the_demos_sft_config_reruns_sft_and_what_reads_its_model_only(tmp_path):
    demo = REPO / "recipes" / "lifecycle-tiny.yaml"
    overrides = [("output_dir", str(tmp_path / "demo"))]
    plan = pipeline.load_recipe(demo, overrides)
    pipeline.decide(plan)
    for planned in plan.stages:  # as a finished demo leaves them
        planned.output_dir.mkdir(parents=True)
        (planned.output_dir / "result.json").write_text("{}")
        (planned.output_dir / pipeline.STATE_FILE).write_text(json.dumps({"key": planned.key, "status": "done"}))
    plan = pipeline.load_recipe(demo, overrides)
    pipeline.decide(plan)
    assert set(statuses(plan).values()) == {"skip"}
    plan = pipeline.load_recipe(demo, overrides + [("stages.sft.lora.r", "8")])
    pipeline.decide(plan)
    reruns = {name for name, status in statuses(plan).items() if status != "skip"}
    assert reruns == {"sft", "sft_samples", "safety"}
    assert all(status == "rerun" for name, status in statuses(plan).items() if name in reruns)
