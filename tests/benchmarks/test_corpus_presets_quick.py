"""The corpus preset and scaling benchmarks on tiny inputs (no apt, a few seconds)."""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def presets(load_benchmark):
    return load_benchmark("corpus_presets", "hojichar")


def tiny_sets(bench):
    sets = {k: v[:40] for k, v in bench.load_sets(quick=True).items()}
    sets["debian"] = sets["clean"][:20] + sets["noisy"][:20] + sets["long"][:5]  # stands in
    return sets


def test_preset_report_counts_kept_documents_by_length(presets):
    sets = tiny_sets(presets)
    report = presets.preset_report("ja_web", sets)
    deb = report["debian"]
    assert deb["docs"] == 45 and 0 < deb["kept_docs"] < 45 and deb["kept_chars"] <= deb["chars"]
    assert sum(deb["bucket_docs"].values()) <= 45 and deb["kept_by_length"]["5–20k"] == 1.0
    assert report["long_kept"] == 1.0 and report["noisy_recall"] >= 0.9
    json.dumps(report)


def test_jaforge_verdicts_name_every_swallow_rule(presets):
    rules = presets.jaforge_swallow_rules()
    verdicts, dropped = presets.jaforge_verdicts(rules, "短い。")
    assert set(verdicts) == set(presets.RULE_KEYS) | {"ng_words"} and dropped


@pytest.mark.skipif(not os.environ.get("SWALLOW_CORPUS_REPO"),
                    reason="set SWALLOW_CORPUS_REPO to a copy of swallow-llm/swallow-corpus")
def test_agreement_with_the_released_annotator(presets, tmp_path):
    pytest.importorskip("dartsclone")
    sets = tiny_sets(presets)
    reference = presets.Reference(Path(os.environ["SWALLOW_CORPUS_REPO"]),
                                  [t for _, t in sets["clean"]], tmp_path)
    result = presets.agreement(reference, sets["debian"])
    assert result["per_document"] == 1.0, result["differences"]


def test_scaling_benchmark_runs_and_writes_the_same_bytes(load_benchmark, tmp_path, monkeypatch):
    scaling = load_benchmark("corpus_scaling", "hojichar")
    docs = [(f"d{i}", json.loads(line)["text"]) for i, line in
            enumerate((REPO / "data" / "ja" / "clean" / "essay.jsonl").open(encoding="utf-8"))]
    monkeypatch.setattr(scaling, "debian", lambda quick: docs)
    out = tmp_path / "scaling.json"
    assert scaling.main(["--quick", "--copies", "2", "--task-bytes", "20000", "--rounds", "1",
                         "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["same_answers"] and result["inputs"]["tasks"] > 2
