import random

import numpy as np
import pytest

from jaforge.corpus.dedup import (MinHasher, duplicate_masks, exact_key, near_duplicate_mask,
                                  save_keys, seen_before)

KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"


def random_text(seed: int, length: int = 1200) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(KANA + "日本語文章漢字。") for _ in range(length))


def edit(text: str, seed: int, n_edits: int = 3) -> str:
    rng = random.Random(seed)
    for _ in range(n_edits):
        i = rng.randrange(len(text) - 10)
        text = text[:i] + "少し変更" + text[i + 4:]
    return text


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa = {a[i:i + n] for i in range(len(a) - n + 1)}
    sb = {b[i:i + n] for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("method", ["oph", "classic"])
def test_signature_agreement_estimates_jaccard(method):
    hasher = MinHasher(bands=20, rows=10, method=method)
    base = random_text(1)
    for other in (edit(base, 2, 5), edit(base, 3, 40), random_text(4)):
        agreement = float((hasher.signature(base) == hasher.signature(other)).mean())
        assert abs(agreement - jaccard(base, other)) < 0.12


def test_near_duplicates_found_distinct_documents_kept():
    hasher = MinHasher(bands=40, rows=20)
    originals = [random_text(s) for s in range(30)]
    near = [edit(t, 100 + i, 2) for i, t in enumerate(originals[:10])]
    keys = np.stack([hasher.band_keys(t) for t in originals + near])
    mask = near_duplicate_mask(keys)
    assert not mask[:30].any() and mask[30:].all()


def test_deterministic_across_instances_and_seeds_differ():
    text = random_text(7)
    assert (MinHasher(seed=3).band_keys(text) == MinHasher(seed=3).band_keys(text)).all()
    assert (MinHasher(seed=3).band_keys(text) != MinHasher(seed=4).band_keys(text)).any()


def test_short_and_empty_texts_have_signatures():
    hasher = MinHasher(bands=4, rows=2)
    assert hasher.band_keys("短い").shape == (4,)
    assert (hasher.band_keys("短い") == hasher.band_keys("短い")).all()
    assert hasher.band_keys("").shape == (4,)


def test_seen_before_marks_later_repeats_only():
    assert seen_before(np.array([5, 3, 5, 7, 3], dtype=np.uint64)).tolist() == [False, False, True, False, True]
    assert exact_key("同じ") == exact_key("同じ") != exact_key("違う")


def test_duplicates_across_spilled_shards_follow_input_order(tmp_path):
    hasher = MinHasher(bands=10, rows=5)
    a, b = random_text(10), random_text(11)
    shards = [[a, b], [edit(a, 1, 1), a], []]
    paths = []
    for i, texts in enumerate(shards):
        bands = np.stack([hasher.band_keys(t) for t in texts]) if texts else np.zeros((0, 10), np.uint64)
        save_keys(tmp_path / f"{i}.npz", [exact_key(t) for t in texts], bands)
        paths.append(tmp_path / f"{i}.npz")
    masks = duplicate_masks(paths)
    assert masks[0][0].tolist() == [False, False] and masks[0][1].tolist() == [False, False]
    assert masks[1][0].tolist() == [False, True]   # exact copy of `a` in the second shard
    assert masks[1][1].tolist() == [True, True]    # both share bands with the earlier `a`
    assert len(masks[2][0]) == 0
