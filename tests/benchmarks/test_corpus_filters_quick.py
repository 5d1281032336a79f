"""The corpus-filters benchmark's core functions on a tiny input (no apt, a few seconds)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    # redis: HojiChar's dedup filters refuse to load without it
    return load_benchmark("corpus_filters", "hojichar", "datasketch", "rensa", "xxhash", "redis")


@pytest.fixture(scope="module")
def tiny_docs(bench):
    docs = bench.embedded(REPO / "data", ("clean", "noisy"))
    if len(docs) < 10:
        pytest.skip("the embedded corpus under data/ja is not there yet")
    return bench.sample(docs, 40)


def test_part_a_same_kept_set_and_timings(bench, tiny_docs):
    result = bench.part_a(tiny_docs, rounds=1, shards=2)
    assert result["same_kept"], result["differences"]
    assert result["executor_same_kept"]
    assert result["docs"] == len(tiny_docs)
    assert set(result["docs_per_s"]) == {"hojichar", "jaforge"}
    assert result["ratio"]["min"] <= result["ratio"]["median"] <= result["ratio"]["max"]
    assert result["scaling"]["median"] > 0
    json.dumps(result)  # goes into the results file as is


def test_part_b_finds_planted_copies(bench, tiny_docs):
    originals = tiny_docs[:15]
    copies = bench.planted_copies(originals)
    texts = [t for _, t in originals + copies]
    planted = np.arange(len(texts)) >= len(originals)
    result = bench.part_b(texts, planted, rounds=1, configs=[(20, 10)])["20x10"]
    assert set(result["duplicates"]) == {"hojichar", "datasketch", "jaforge"}
    for tool, share in result["planted_found"].items():
        assert share == 1.0, tool  # ≤ 1 % edits: similarity ≈ 0.9, far above 20 × 10's slope
    assert not any(result["duplicates"][t] > len(copies) for t in result["duplicates"])
    assert result["agreement"]["hojichar~jaforge"]["agree"] == 1.0
    json.dumps(result)


def test_small_edit_and_helpers(bench):
    rng = random.Random(0)
    text = "今日は朝から雨が降っていたので、家で本を読んで過ごしました。" * 10
    edited = bench.small_edit(text, 0.01, rng)
    assert edited != text and abs(len(edited) - len(text)) <= 3
    assert bench.agreement(np.array([1, 0, 1, 0], bool), np.array([1, 0, 0, 0], bool)) == \
        {"agree": 0.75, "jaccard": 0.5}
    calls = []
    times = bench.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 2)
    assert calls == ["a", "b", "b", "a"] and len(times["a"]) == 2
    stats = bench.ratio_stats([2.0, 4.0, 3.0], [1.0, 1.0, 1.0])
    assert stats == {"median": 3.0, "min": 2.0, "max": 4.0}
