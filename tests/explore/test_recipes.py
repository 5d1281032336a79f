"""Every explore preset loads into ExploreConfig and every one of its trials resolves (budget rules
included) without training anything; presets for TPE need optuna only to run, not to load."""

from pathlib import Path

import pytest

from jaforge.config import load_config
from jaforge.explore import ExploreConfig
from jaforge.explore.space import draw_points, resolve_trial
from jaforge.explore.study import load_base

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("explore-*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_explore_recipe_resolves(recipe):
    cfg = load_config(ExploreConfig, recipe)
    if cfg.space.sampler == "tpe":
        assert cfg.space.trials > 0 and cfg.space.params
        return
    base = load_base(cfg)
    trials = [resolve_trial(cfg, base, p, s) for p in draw_points(cfg.space) for s in cfg.seeds]
    assert len({t.run_id for t in trials}) == len(trials)


def test_the_built_in_studies_exist():
    names = {p.stem for p in RECIPES}
    assert {"explore-depth-width", "explore-architecture", "explore-hparams", "explore-vocab",
            "explore-data-order"} <= names
    study = load_config(ExploreConfig, RECIPES[0].parent / "explore-depth-width.yaml")
    assert len(study.space.params["budget.non_embedding_params"]) >= 3
