"""Training windows from token shards: a deterministic, stateless sampler over a mixture of datasets.

    sampler = MixtureSampler(data_cfg, global_batch=32)
    windows = sampler.batch(step)                 # int64 [32, seq_len + 1], the same for every run
    windows = sampler.batch(step, rank=1, world_size=2)   # this process's half of the global batch

Global sample g = step × global_batch + slot. Its dataset is drawn with the weights of the mixture
phase that `step` falls in, from a generator seeded by (seed, g); its window is the next one of that
dataset's shuffled epoch: window k of epoch e is permutation(seed, dataset, e)[k], where k runs over
g mod windows. So the order depends only on the seed and the step: the data position saved in a
checkpoint is the step alone, and 1 or N processes see the same global batch.
Windows are seq_len + 1 tokens starting at multiples of seq_len (inputs and shifted targets).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from typing import Optional

import numpy as np

from jaforge.errors import InputError

from jaforge.train.config import DataConfig, MixturePhase


def token_vocab_size(data: DataConfig) -> int:
    """The largest vocabulary of the datasets' token shards (their meta.json), for vocab_size: auto."""
    sizes = []
    for dataset in data.datasets:
        meta = Path(dataset.path) / "meta.json"
        if not meta.exists():
            raise InputError(meta, "not found: not a token-shard directory (run `jaforge tokenize-data` first)")
        sizes.append(int(json.loads(meta.read_text("utf-8"))["vocab_size"]))
    return max(sizes)


class TokenShard:
    """One split of a tokenize-data output: a memory-mapped flat token array and document offsets."""

    def __init__(self, directory: str | Path, split: str = "train"):
        self.directory = Path(directory)
        meta_path = self.directory / "meta.json"
        if not meta_path.exists():
            raise InputError(meta_path, "not found: not a token-shard directory (run `jaforge tokenize-data` first)")
        self.meta = json.loads(meta_path.read_text("utf-8"))
        self.split = split
        count = self.meta["splits"][split]["tokens"]
        self.tokens = (np.memmap(self.directory / f"{split}.bin", dtype=self.meta["dtype"], mode="r",
                                 shape=(count,)) if count else np.zeros(0, dtype=self.meta["dtype"]))
        self.offsets = np.load(self.directory / f"{split}.idx.npy")

    def __len__(self) -> int:
        return len(self.tokens)

    def document(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i]:self.offsets[i + 1]])

    def windows(self, seq_len: int) -> int:
        """Number of whole windows of seq_len + 1 tokens starting at multiples of seq_len."""
        return max(0, (len(self.tokens) - 1) // seq_len)

    def window(self, k: int, seq_len: int) -> np.ndarray:
        start = k * seq_len
        return np.asarray(self.tokens[start:start + seq_len + 1], dtype=np.int64)


@lru_cache(maxsize=16)  # a few (dataset, epoch) pairs are live at a time
def epoch_permutation(seed: int, dataset: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, dataset, epoch]).permutation(n)


class MixtureSampler:
    """Deterministic training batches over weighted datasets and mixture phases."""

    def __init__(self, cfg: DataConfig, global_batch: int, split: str = "train"):
        self.cfg = cfg
        self.global_batch = global_batch
        self.names = [d.name for d in cfg.datasets]
        self.shards = [TokenShard(d.path, split) for d in cfg.datasets]
        self._windows: dict[tuple[int, int], int] = {}
        self._check()

    def n_windows(self, dataset: int, seq_len: int) -> int:
        """Windows of seq_len + 1 tokens in a dataset's split."""
        key = (dataset, seq_len)
        if key not in self._windows:
            self._windows[key] = self.shards[dataset].windows(seq_len)
        return self._windows[key]

    def _check(self) -> None:
        for d, name in enumerate(self.names):
            if self.n_windows(d, self.cfg.seq_len) == 0:
                raise ValueError(f"dataset '{name}' has fewer than seq_len + 1 = {self.cfg.seq_len + 1} "
                                 f"tokens; lower data.seq_len or add data")
        for phase in self.cfg.phases:
            unknown = set(phase.weights) - set(self.names)
            if unknown:
                raise ValueError(f"mixture phase names unknown dataset(s) {sorted(unknown)}; "
                                 f"known: {self.names}")
            if not 0 <= phase.seq_len <= self.cfg.seq_len:
                raise ValueError(f"mixture phase seq_len {phase.seq_len} must lie in 1..data.seq_len "
                                 f"= {self.cfg.seq_len} (0: data.seq_len)")

    @property
    def vocab_size(self) -> int:
        return max(s.meta["vocab_size"] for s in self.shards)

    def bos_flags(self) -> dict[str, Optional[bool]]:
        """Whether each dataset's documents start with BOS (None: meta.json predates the flag)."""
        return {name: shard.meta.get("bos") for name, shard in zip(self.names, self.shards)}

    def chars_per_token(self, split: str = "val") -> dict[str, float]:
        """Characters per token of each dataset's split, where meta.json counts its characters."""
        found = {}
        for name, shard in zip(self.names, self.shards):
            counts = shard.meta["splits"].get(split, {})
            if counts.get("chars") and counts.get("tokens"):
                found[name] = counts["chars"] / counts["tokens"]
        return found

    def phase_at(self, step: int) -> Optional[MixturePhase]:
        """The mixture phase `step` falls in (the last one runs to the end); None without phases."""
        end, phase = 0, None
        for phase in self.cfg.phases:
            end += phase.steps
            if step < end:
                break
        return phase

    def seq_len_at(self, step: int) -> int:
        phase = self.phase_at(step)
        return phase.seq_len if phase is not None and phase.seq_len else self.cfg.seq_len

    def tokens_through(self, steps: int) -> int:
        """Input tokens of the global batches of the first `steps` steps (phases may change seq_len)."""
        total, start = 0, 0
        for i, phase in enumerate(self.cfg.phases):
            end = steps if i == len(self.cfg.phases) - 1 else min(steps, start + phase.steps)
            total += max(0, end - start) * (phase.seq_len or self.cfg.seq_len)
            start += phase.steps
        if not self.cfg.phases:
            total = steps * self.cfg.seq_len
        return total * self.global_batch

    def weights_at(self, step: int) -> np.ndarray:
        """Normalised dataset weights of the mixture phase that `step` falls in."""
        phase = self.phase_at(step)
        weights = [d.weight for d in self.cfg.datasets] if phase is None else \
            [phase.weights.get(n, 0.0) for n in self.names]
        w = np.asarray(weights, dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError(f"mixture weights at step {step} sum to zero")
        return w / w.sum()

    def sample(self, step: int, slot: int) -> tuple[int, np.ndarray]:
        """(dataset index, window) of global sample `step × global_batch + slot`."""
        g = step * self.global_batch + slot
        weights = self.weights_at(step)
        d = 0 if len(weights) == 1 else int(
            np.random.default_rng([self.cfg.seed, g]).choice(len(weights), p=weights))
        seq_len = self.seq_len_at(step)
        n = self.n_windows(d, seq_len)
        epoch, k = divmod(g, n)
        window = epoch_permutation(self.cfg.seed, d, epoch, n)[k]
        return d, self.shards[d].window(int(window), seq_len)

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """This process's rows of the global batch at `step`: [global_batch / world_size, seq_len + 1]
        (seq_len of the step's mixture phase)."""
        if self.global_batch % world_size:
            raise ValueError(f"batch_size {self.global_batch} is not divisible by {world_size} processes")
        per_rank = self.global_batch // world_size
        slots = range(rank * per_rank, (rank + 1) * per_rank)
        return np.stack([self.sample(step, s)[1] for s in slots])


def validation_windows(cfg: DataConfig, count: int) -> dict[str, np.ndarray]:
    """Up to `count` evenly spaced windows of each dataset's validation split (fixed across runs)."""
    found = {}
    for d in cfg.datasets:
        shard = TokenShard(d.path, "val")
        n = shard.windows(cfg.seq_len)
        if n == 0:
            continue
        picks = np.unique(np.linspace(0, n - 1, num=min(count, n)).astype(np.int64))
        found[d.name] = np.stack([shard.window(int(k), cfg.seq_len) for k in picks])
    return found
