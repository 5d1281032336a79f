"""Optional engines: Optuna TPE (jaforge[explore]) and Ray (jaforge[scale]) run the same trials."""

import os

import pytest

from jaforge.config import build
from jaforge.explore import ExploreConfig, run

from .conftest import tiny_study


def test_tpe_study_runs_and_resumes(explore_tokens, tmp_path):
    pytest.importorskip("optuna", reason="the tpe sampler needs optuna (pip install 'jaforge[explore]')")
    params = {"optim.lr": {"low": 1e-3, "high": 1e-2, "log": True}, "model.n_layer": [1, 2]}
    study = tiny_study(explore_tokens, tmp_path, params)
    study["space"] = {"sampler": "tpe", "trials": 3, "seed": 0, "params": params}
    study["report"] = {"enabled": False}
    first = run(build(ExploreConfig, study))
    assert first.metrics['finished'] == 3 and not first.metrics['failures']
    again = run(build(ExploreConfig, study))  # the seeded sampler asks the same points again
    assert again.metrics['ran_ids'] == [] and sorted(again.metrics['skipped_ids']) == sorted(first.metrics['ran_ids'])


@pytest.mark.skipif(not os.environ.get("JAFORGE_TEST_RAY"),
                    reason="starting a local Ray instance takes 20 s–2 min on a shared 2-core machine; "
                           "set JAFORGE_TEST_RAY=1 to run it")
def test_ray_executor_runs_trials(explore_tokens, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray executor needs ray (pip install 'jaforge[scale]')")
    study = tiny_study(explore_tokens, tmp_path, {"model.n_layer": [1, 2]})
    study["executor"] = {"kind": "ray", "workers": 2}
    study["report"] = {"enabled": False}
    try:
        result = run(build(ExploreConfig, study))
    finally:
        ray.shutdown()
    assert len(result.metrics['ran_ids']) == 2 and not result.metrics['failures']
