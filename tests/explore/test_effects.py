"""Effects against a reference arm: paired per-seed differences with their standard error, the rise
from the step-0 (base) value, chars/token of the token data, eval scores, and the papers' findings
checked as agrees / disagrees / inconclusive."""

import json

import pytest

from jaforge.config import build
from jaforge.explore.config import ExploreConfig
from jaforge.explore.effects import effects, render, verdict


def run(arm: str, seed: int, ja: float, en: float, score: float, tokens_dir) -> dict:
    return {"labels": {"arm": arm}, "seed": seed,
            "final": {"val_loss_per_char/ja": ja, "val_loss/en": en},
            "start": {"val_loss/en": 4.0}, "datasets": {"ja": str(tokens_dir)},
            "scores": {"jnli": score}}


@pytest.fixture
def tokens_dir(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"splits": {"val": {"chars": 300, "tokens": 200}}}))
    return tmp_path


def report(**changes):
    return build(ExploreConfig, {"report": {"reference": "reference", **changes}}).report


def test_effects_are_paired_differences_with_standard_errors(tokens_dir):
    results = [run("reference", 0, 5.0, 4.1, 0.40, tokens_dir), run("reference", 1, 5.2, 4.3, 0.50, tokens_dir),
               run("replay-0", 0, 4.9, 4.5, 0.40, tokens_dir), run("replay-0", 1, 5.1, 4.8, 0.50, tokens_dir)]
    table = effects(results, report())
    assert table.arms == ["reference", "replay-0"]
    ja = table.cells[("replay-0", "val_loss_per_char/ja")]
    assert ja.effect == pytest.approx(-0.1) and ja.stderr == pytest.approx(0.0, abs=1e-12)
    assert ja.direction == "↓*"  # the same difference in both seeds: no spread measured
    rise = table.cells[("replay-0", "vs_base/val_loss/en")]
    assert rise.effect == pytest.approx(0.45) and rise.stderr == pytest.approx(0.05)  # diffs 0.4, 0.5
    assert rise.direction == "↑" and table.cells[("reference", "vs_base/val_loss/en")].mean == pytest.approx(0.2)
    assert table.cells[("reference", "chars_per_token/ja")].mean == pytest.approx(1.5)
    assert table.cells[("replay-0", "score/jnli")].direction == "≈"


def test_expectations_agree_disagree_or_stay_inconclusive(tokens_dir):
    results = [run("reference", s, 5.0 + s, 4.1, 0.4 + 0.1 * s, tokens_dir) for s in (0, 1)] + \
              [run("replay-0", s, 5.0 + s, 4.6 + 0.1 * s, 0.45 + 0.05 * s, tokens_dir) for s in (0, 1)]
    cfg = report(expectations=[
        {"arm": "replay-0", "measure": "vs_base/val_loss/en", "direction": "higher", "source": "Aurora-M"},
        {"arm": "replay-0", "measure": "vs_base/val_loss/en", "direction": "lower"},
        {"arm": "replay-0", "measure": "score/jnli", "direction": "higher"},
        {"arm": "replay-0", "measure": "score/jnli", "direction": "not lower"},
        {"arm": "nobody", "measure": "score/jnli", "direction": "higher"}])
    table = effects(results, cfg)
    verdicts = [verdict(table, e).split(":")[0] for e in cfg.expectations]
    assert verdicts == ["agrees", "disagrees", "inconclusive (within 2 s.e.)", "agrees", "not measured"]
    markdown, page = render(table, cfg)
    assert "## Effects against reference" in markdown and "Aurora-M — replay-0" in markdown
    assert "<table>" in page


def test_no_reference_no_table(tokens_dir):
    assert effects([run("a", 0, 1, 1, 1, tokens_dir)], build(ExploreConfig, {}).report) is None
