"""CycleQD on tiny experts: the operators (crossover of task vectors, SVD mutation, elite-biased
parents), the archives' insertion rule, and short runs whose report shows the archives filling
and the verdict against each expert, resuming exactly and giving the same children in local
worker processes as inline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaforge.config import build
from jaforge.merge.cycleqd.archive import Archive, Elite
from jaforge.merge.cycleqd.config import CycleQDConfig
from jaforge.merge.cycleqd.operators import child_tensor, select_parents

from .conftest import torch


def test_crossover_and_svd_mutation():
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(12, 8, generator=gen)
    parents = [theta0 + 0.1 * torch.randn(12, 8, generator=gen) for _ in range(2)]
    w = [0.7, 1.4]
    crossed = child_tensor(theta0, parents, w)
    expected = theta0 + (w[0] * (parents[0] - theta0) + w[1] * (parents[1] - theta0)) / sum(w)
    assert torch.allclose(crossed, expected, atol=1e-6)
    assert torch.allclose(child_tensor(theta0, parents, w, (0.0, 0.0), gen), crossed, atol=1e-5)
    mutated = child_tensor(theta0, parents[:1], [1.0], (0.05, 0.2), torch.Generator().manual_seed(1))
    tau, moved = parents[0] - theta0, mutated - theta0
    u, s, vh = torch.linalg.svd(tau, full_matrices=False)
    scaled = torch.diagonal(u.T @ moved @ vh.T)                  # the same singular directions …
    assert torch.allclose(u.T @ moved @ vh.T, torch.diag(scaled), atol=1e-5)
    assert ((scaled / s > 1.05 - 1e-4) & (scaled / s < 1.2 + 1e-4)).all()   # … values × (1 + ε)
    bias = torch.randn(8, generator=gen)
    assert torch.allclose(child_tensor(bias, [bias + 1, bias + 3], [1.0, 1.0], (0.5, 0.5)), bias + 2)  # 1-D: no SVD


def test_archive_insertion_and_elite_biased_parents():
    archive = Archive("a", ["b"], {"b": (0.0, 1.0)}, bins=10)
    assert archive.insert(Elite("x", {"a": 0.5, "b": 0.31})) and archive.cell({"b": 0.31}) == (3,)
    assert not archive.insert(Elite("y", {"a": 0.4, "b": 0.35}))      # same cell, worse
    assert archive.insert(Elite("z", {"a": 0.6, "b": 0.39})) and archive.cells[(3,)].id == "z"
    assert archive.cell({"b": 7.0}) == (9,) and archive.cell({"b": -1.0}) == (0,)   # clipped to the edges
    for i in range(5):
        archive.insert(Elite(f"e{i}", {"a": 0.1 * i, "b": 0.05 + 0.2 * i}))
    rng = np.random.default_rng(0)
    picks = [p.id for _ in range(400) for p in select_parents(archive, rng, "elite")]
    assert picks.count("e4") > picks.count("e0") * 1.5       # high quality and descriptor drawn more
    picks = [p.id for _ in range(400) for p in select_parents(archive, rng, "uniform")]
    assert abs(picks.count("e4") - picks.count("e0")) < 60


def cycleqd_config(lineage, out, **changes) -> CycleQDConfig:
    config = {"base_model": str(lineage["base_hf"]),
              "tasks": [{"name": "jnli", "eval_examples": 16}, {"name": "jsquad", "eval_examples": 12},
                        {"name": "instruct", "eval_examples": 12}],
              "experts": {"steps": 8, "lr": 3e-3, "batch_size": 4},
              "generations": 3, "children": 3, "bins": 15, "seed": 7,
              "executor": {"kind": "inline", "threads": 1}, "output_dir": str(out)}
    config.update(changes)
    return build(CycleQDConfig, config)


@pytest.fixture(scope="module")
def first_run(lineage, tmp_path_factory):
    from jaforge.merge.cycleqd import run

    out = tmp_path_factory.mktemp("cycleqd") / "run"
    return out, run(cycleqd_config(lineage, out))


def test_report_shows_the_archives_filling_and_an_honest_verdict(first_run):
    out, result = first_run
    report = (out / "report.md").read_text("utf-8")
    state = json.loads((out / "state.json").read_text("utf-8"))
    start_cells = sum(len(a["cells"]) for a in json.loads(json.dumps(state["archives"])))
    history = state["history"]
    assert [h["generation"] for h in history] == [0, 1, 2] and [h["task"] for h in history] == ["jnli", "jsquad", "instruct"]
    filled = [sum(h["cells"].values()) for h in history]
    assert filled == sorted(filled) and filled[-1] > 3 and filled[-1] == start_cells   # never shrinks
    for name in ("gen-start.png", "gen-0000.png", "gen-0002.png"):
        assert (out / "archives" / name).stat().st_size > 1000 and f"archives/{name}" in report
    assert "seed 7" in report and "task arithmetic" in report and "linear average" in report
    metrics = result.metrics
    for expert, value in metrics["experts_average"].items():
        word = "beats" if metrics["best_average"] > value else "does not beat"
        assert f"**{word}** the {expert} expert ({value:.3f})" in report
    assert metrics["beats_every_expert"] == all(metrics["best_average"] > v for v in metrics["experts_average"].values())
    kept = {c["id"] for a in state["archives"] for c in a["cells"]} | {metrics["best_average_id"]}
    for child in state["records"]:   # only elites (and the best on average) keep their weights
        assert (out / "children" / child / "model" / "model.safetensors").exists() == (child in kept)


def test_resumed_run_continues_exactly_and_reuses_evaluations(first_run, lineage, tmp_path):
    from jaforge.merge.cycleqd import run

    out, _ = first_run
    experts = [{"name": t, "eval_examples": n, "expert": str(out / "experts" / f"expert-{t}" / "merged-hf")}
               for t, n in (("jnli", 16), ("jsquad", 12), ("instruct", 12))]
    again = tmp_path / "again"
    run(cycleqd_config(lineage, again, tasks=experts, generations=2))
    stamps = {p: p.stat().st_mtime_ns for p in (again / "children").glob("*/metrics.json")}
    run(cycleqd_config(lineage, again, tasks=experts, generations=3))       # resume with one more
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())         # evaluations cached
    ours, theirs = (json.loads((d / "state.json").read_text("utf-8")) for d in (again, out))
    assert ours["records"] == theirs["records"] and ours["archives"] == theirs["archives"]


def test_local_worker_processes_make_the_same_children(first_run, lineage, tmp_path):
    from jaforge.merge.cycleqd import run

    out, _ = first_run
    experts = [{"name": t, "eval_examples": n, "expert": str(out / "experts" / f"expert-{t}" / "merged-hf")}
               for t, n in (("jnli", 16), ("jsquad", 12), ("instruct", 12))]
    run(cycleqd_config(lineage, tmp_path / "local", tasks=experts, generations=1,
                       executor={"kind": "local", "workers": 2, "threads": 1}))
    local = json.loads((tmp_path / "local" / "state.json").read_text("utf-8"))["records"]
    inline = json.loads((out / "state.json").read_text("utf-8"))["records"]
    assert local and local == {k: v for k, v in inline.items() if k.startswith("g0000")}


@pytest.mark.parametrize("change, expected", [
    ({"tasks": [{"name": "jnli"}, {"name": "jsquadd"}]}, "unknown cycleqd task 'jsquadd'; did you mean 'jsquad'"),
    ({"tasks": [{"name": "jnli"}, {"name": "jnli"}]}, "'tasks': a task is listed twice"),
    ({"tasks": [{"name": "jnli"}]}, "'tasks' .*at least 2 items"),
    ({"ranges": {"jnli": [0.5, 0.2]}}, "'ranges.jnli': expected \\[low, high\\] with low < high"),
])
def test_bad_cycleqd_configs_name_the_key(tmp_path, capsys, change, expected):
    import re

    import yaml

    from jaforge.cli import main

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"base_model": str(tmp_path), "output_dir": str(tmp_path / "o"),
                                                     **change}), encoding="utf-8")
    assert main(["cycleqd", "--config", str(tmp_path / "c.yaml")]) == 2
    assert re.search(expected, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
