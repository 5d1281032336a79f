"""A tiny study end to end: runs, results, the report, resume after a finish and after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from jaforge.config import ConfigError, build
from jaforge.explore import ExploreConfig, run
from jaforge.explore.space import draw_points, resolve_trial, run_id
from jaforge.explore.study import load_base

from .conftest import tiny_study


def test_grid_bundles_and_run_ids(explore_tokens, tmp_path):
    params = {"model.n_layer": [1, 2], "norm": [{"name": "rms", "model.norm": "rmsnorm"},
                                                {"name": "ln-post", "model.norm": "layernorm",
                                                 "model.norm_placement": "post"}]}
    cfg = build(ExploreConfig, tiny_study(explore_tokens, tmp_path, params, seeds=[0, 1]))
    points = draw_points(cfg.space)
    assert len(points) == 4
    base = load_base(cfg)
    trial = resolve_trial(cfg, base, points[3], seed=1)
    assert trial.labels == {"model.n_layer": 2, "norm": "ln-post"}
    assert trial.config["model"]["norm_placement"] == "post" and trial.config["trainer"]["seed"] == 1
    assert trial.run_id == resolve_trial(cfg, base, points[3], seed=1).run_id
    assert trial.run_id != resolve_trial(cfg, base, points[3], seed=0).run_id
    assert run_id({"a": 1, "b": 2}) == run_id({"b": 2, "a": 1})


def test_bad_space_names_the_key(explore_tokens, tmp_path):
    cfg = build(ExploreConfig, tiny_study(explore_tokens, tmp_path, {"model.n_layr": [1]}))
    with pytest.raises(ConfigError, match="n_layr"):
        resolve_trial(cfg, load_base(cfg), draw_points(cfg.space)[0], 0)
    cfg = build(ExploreConfig, tiny_study(explore_tokens, tmp_path, {"activation": ["gelu"]}))
    with pytest.raises(ConfigError, match="bundle"):
        draw_points(cfg.space)


def test_random_sampler_is_seeded(explore_tokens, tmp_path):
    params = {"optim.lr": {"low": 1e-4, "high": 1e-2, "log": True}, "model.n_layer": [1, 2, 3]}
    space = {"sampler": "random", "trials": 5, "seed": 3, "params": params}
    cfg = build(ExploreConfig, {**tiny_study(explore_tokens, tmp_path, params), "space": space})
    points = draw_points(cfg.space)
    assert points == draw_points(cfg.space) and len(points) == 5
    assert all(1e-4 <= p["optim.lr"] <= 1e-2 for p in points)


def test_study_runs_reports_and_skips_finished_runs(explore_tokens, tmp_path, caplog):
    params = {"model.n_layer": [1, 2], "model.activation": ["swiglu", "gelu"]}
    cfg = build(ExploreConfig, tiny_study(explore_tokens, tmp_path / "s", params, seeds=[0, 1]))
    cfg.space.params["model.activation"] = ["gelu"]  # 2 points × 2 seeds keeps it to seconds
    with caplog.at_level("INFO", logger="jaforge.explore.study"):
        first = run(cfg)
    assert len(first.metrics['ran_ids']) == 4 and not first.metrics['failures'] and not first.metrics['skipped_ids']
    progress = [r.getMessage() for r in caplog.records if " done (" in r.getMessage()]
    assert [m.split("(")[1].split(",")[0] for m in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("elapsed, about" in m and "left)" in m for m in progress)
    out = tmp_path / "s"
    report = (out / "report.md").read_text("utf-8")
    assert "## Recommendation" in report and "model.n_layer" in report and "2 seed(s)" in report
    html = (out / "report.html").read_text("utf-8")
    assert html.count("data:image/png;base64,") >= 2 and "<table>" in html
    assert len((out / "results.jsonl").read_text().splitlines()) == 4
    result = json.loads(next((out / "runs").glob("*/result.json")).read_text())
    assert result["final"]["val_loss"] > 0 and result["non_embedding_params"] > 0
    again = run(cfg)
    assert again.metrics['ran_ids'] == [] and len(again.metrics['skipped_ids']) == 4


def test_per_char_metric_divides_by_chars_per_token(explore_tokens, tmp_path):
    from jaforge.explore.analysis import metric_value
    from jaforge.explore.chars import chars_per_token
    from jaforge.explore.config import MetricConfig

    from jaforge import data
    from jaforge.tokenizer.tokenize_data import is_validation

    ratio = chars_per_token(str(explore_tokens["ja"]))
    meta = json.loads((explore_tokens["ja"] / "meta.json").read_text())
    chars = sum(len(d["text"]) for d in data.japanese_clean()[:120] if is_validation(d["id"], 0, 0.15))
    assert ratio == pytest.approx(chars / meta["splits"]["val"]["tokens"], rel=1e-3)
    result = {"final": {"val_loss": 3.0, "val_loss/ja": 3.0}, "datasets": {"ja": str(explore_tokens["ja"])}}
    assert metric_value(result, MetricConfig(per="char")) == pytest.approx(3.0 / ratio)


def test_killed_study_resumes_without_rerunning_finished_runs(explore_tokens, tmp_path):
    params = {"model.n_layer": [1, 2, 3]}
    study = tiny_study(explore_tokens, tmp_path / "k", params, seeds=[0])
    study["executor"] = {"kind": "local", "workers": 1}
    study["report"] = {"enabled": False}
    study["base"]["trainer"]["max_steps"] = 4
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    code = ("from jaforge.config import load_config; from jaforge.explore import ExploreConfig, run; "
            f"run(load_config(ExploreConfig, {str(path)!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    runs = tmp_path / "k" / "runs"
    deadline = time.time() + 120
    while not list(runs.glob("*/DONE")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/DONE")}
    assert 1 <= len(finished) < 3
    cfg = build(ExploreConfig, {**study, "executor": {"kind": "inline"}})
    resumed = run(cfg)
    assert set(resumed.metrics['skipped_ids']) == set(finished) and not set(resumed.metrics['ran_ids']) & set(finished)
    assert len(resumed.metrics['ran_ids']) + len(resumed.metrics['skipped_ids']) == 3
    assert {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/DONE")
            if p.parent.name in finished} == finished


def test_a_failed_run_is_reported_and_the_study_goes_on(explore_tokens, tmp_path):
    good, gone = str(explore_tokens["ja"]), str(tmp_path / "none")
    params = {"data": [{"name": "ok", "data.datasets": [{"name": "ja", "path": good}]},
                       {"name": "missing", "data.datasets": [{"name": "ja", "path": gone}]}]}
    cfg = build(ExploreConfig, tiny_study(explore_tokens, tmp_path / "f", params))
    result = run(cfg)
    assert result.metrics['finished'] == 1 and len(result.metrics['failures']) == 1
    assert "meta.json" in result.metrics['failures'][0]["error"]
    assert "Failed runs" in (tmp_path / "f" / "report.md").read_text("utf-8")
