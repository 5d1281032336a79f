"""The mixture sampler: windows from the shards, an order fixed by seed and step, weights and phases
respected, and the same global batch on 1 or 2 processes."""

import numpy as np
import pytest

from jaforge.train.config import DataConfig, DatasetConfig, MixturePhase
from jaforge.train.data import MixtureSampler, TokenShard, validation_windows


def mixture(token_dirs, phases=(), seed=0, ja=1.0, en=1.0) -> DataConfig:
    return DataConfig(datasets=[DatasetConfig("ja", str(token_dirs["ja"]), ja),
                                DatasetConfig("en", str(token_dirs["en"]), en)],
                      phases=list(phases), seq_len=16, seed=seed)


def test_windows_are_contiguous_slices_of_the_shard(token_dirs):
    sampler = MixtureSampler(DataConfig([DatasetConfig("ja", str(token_dirs["ja"]))], seq_len=16), 4)
    shard = TokenShard(token_dirs["ja"])
    flat = np.asarray(shard.tokens, dtype=np.int64)
    for step in range(3):
        for row in sampler.batch(step):
            assert row.shape == (17,)
            starts = np.flatnonzero(flat[:-16] == row[0])
            assert any((flat[s:s + 17] == row).all() for s in starts if s % 16 == 0)


def test_one_dataset_is_read_once_per_epoch_without_repeats(token_dirs):
    sampler = MixtureSampler(DataConfig([DatasetConfig("en", str(token_dirs["en"]))], seq_len=16), 1)
    n = sampler.n_windows(0, sampler.cfg.seq_len)
    windows = {sampler.sample(step, 0)[1].tobytes() for step in range(n)}
    assert len(windows) > 0.99 * n  # distinct windows (identical text may repeat)


def test_order_depends_only_on_seed_and_step(token_dirs):
    a = MixtureSampler(mixture(token_dirs, seed=5), 8)
    b = MixtureSampler(mixture(token_dirs, seed=5), 8)
    assert (a.batch(7) == b.batch(7)).all() and (a.batch(3) == b.batch(3)).all()
    assert not (a.batch(7) == MixtureSampler(mixture(token_dirs, seed=6), 8).batch(7)).all()
    assert not (a.batch(7) == a.batch(8)).all()


def test_ranks_split_the_same_global_batch(token_dirs):
    sampler = MixtureSampler(mixture(token_dirs), 8)
    halves = np.concatenate([sampler.batch(4, rank=r, world_size=2) for r in range(2)])
    assert (halves == sampler.batch(4)).all()
    with pytest.raises(ValueError, match="divisible"):
        sampler.batch(0, rank=0, world_size=3)


def test_mixture_proportions_follow_the_weights(token_dirs):
    sampler = MixtureSampler(mixture(token_dirs, ja=3.0, en=1.0), 50)
    picks = [sampler.sample(step, slot)[0] for step in range(40) for slot in range(50)]
    assert np.mean(np.asarray(picks) == 0) == pytest.approx(0.75, abs=0.03)


def test_phases_switch_the_mixture_at_their_step(token_dirs):
    phases = [MixturePhase(steps=10, weights={"en": 1.0}), MixturePhase(steps=0, weights={"ja": 0.5, "en": 0.5})]
    sampler = MixtureSampler(mixture(token_dirs, phases), 20)
    early = {sampler.sample(s, k)[0] for s in range(10) for k in range(20)}
    late = [sampler.sample(s, k)[0] for s in range(10, 30) for k in range(20)]
    assert early == {1}
    assert np.mean(np.asarray(late) == 0) == pytest.approx(0.5, abs=0.05)


def test_phase_naming_an_unknown_dataset_fails(token_dirs):
    with pytest.raises(ValueError, match="unknown dataset"):
        MixtureSampler(mixture(token_dirs, [MixturePhase(5, {"code": 1.0})]), 4)


def test_validation_windows_are_fixed_and_from_the_val_split(token_dirs):
    val = validation_windows(mixture(token_dirs), 6)
    assert set(val) == {"ja", "en"} and val["ja"].shape == (6, 17)
    assert (validation_windows(mixture(token_dirs), 6)["en"] == val["en"]).all()


def test_phases_can_grow_the_sequence_length(token_dirs):
    phases = [MixturePhase(steps=3, weights={"ja": 1.0}, seq_len=8), MixturePhase(steps=0, weights={"ja": 1.0})]
    sampler = MixtureSampler(mixture(token_dirs, phases), 4)
    assert sampler.batch(2).shape == (4, 9) and sampler.batch(3).shape == (4, 17)
    with pytest.raises(ValueError, match="seq_len"):
        MixtureSampler(mixture(token_dirs, [MixturePhase(3, {"ja": 1.0}, seq_len=32)]), 4)
    assert sampler.tokens_through(5) == 4 * (3 * 8 + 2 * 16)
    assert MixtureSampler(mixture(token_dirs), 4).tokens_through(5) == 4 * 5 * 16
