"""Exact and near-duplicate detection: MinHash over character n-grams with LSH banding.

A document is a duplicate when it shares its exact text, or any LSH band key, with an *earlier*
document (input order). This is the streaming rule of HojiChar's `InlineDeduplicator` and of
querying datasketch's `MinHashLSH` before inserting, computed here in bulk with numpy.

MinHash values come from one-permutation hashing with optimal densification (Shrivastava, 2017):
each n-gram is hashed once into one of b × r bins, and empty bins borrow from a bin chosen by a
fixed probe sequence. It estimates the same Jaccard similarity as b × r independent permutations
in O(n + b·r) instead of O(n · b·r). `method="classic"` computes the b × r permutations directly.

Signatures spill to disk by shard (`save_keys`) and duplicates are found one band at a time
(`duplicate_masks`), so memory holds one band of keys for the whole corpus, not the signatures.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

_U64 = np.uint64
_EMPTY = np.uint64(0xFFFFFFFF + 1)  # above every 32-bit bin value
_PROBES = 64  # densification probe rounds before falling back to the next non-empty bin


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word."""
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return h


def ngram_hashes(text: str, n: int, seed: int = 0) -> np.ndarray:
    """64-bit hashes of every character n-gram (the whole text if shorter than n)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(_U64)
    count = max(len(codes) - n + 1, 1 if len(codes) else 0)
    h = np.full(count, (seed * 0x9E3779B97F4A7C15 + 1) % 2**64, dtype=_U64)
    with np.errstate(over="ignore"):
        for k in range(min(n, len(codes))):
            h = h * _U64(1_000_003) + codes[k : k + count]
        return _fmix64(h)


def exact_key(text: str) -> int:
    """A 64-bit key of the text; equal texts have equal keys."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class MinHasher:
    """Computes b × r MinHash values of a text and its b LSH band keys."""

    def __init__(self, ngram: int = 5, bands: int = 40, rows: int = 20, seed: int = 0,
                 method: Literal["oph", "classic"] = "oph"):
        self.ngram, self.bands, self.rows, self.seed, self.method = ngram, bands, rows, seed, method
        self.num_perm = bands * rows
        rng = np.random.default_rng(seed)
        self._probe = rng.integers(0, self.num_perm, size=(_PROBES, self.num_perm), dtype=np.int64)
        self._perm_a = (rng.integers(1, 2**32, self.num_perm, dtype=np.uint64) | 1).astype(np.uint32)
        self._perm_b = rng.integers(0, 2**32, self.num_perm, dtype=np.uint64).astype(np.uint32)
        self._row_mult = _fmix64(np.arange(1, rows + 1, dtype=_U64) + _U64(seed))

    def signature(self, text: str) -> np.ndarray:
        """b × r MinHash values (uint64 holding 32-bit values; all `_EMPTY` for empty text)."""
        hashes = ngram_hashes(text, self.ngram, self.seed)
        if self.method == "classic":
            return self._classic(hashes)
        return self._one_permutation(hashes)

    def _one_permutation(self, hashes: np.ndarray) -> np.ndarray:
        sig = np.full(self.num_perm, _EMPTY, dtype=_U64)
        if not len(hashes):
            return sig
        bins = ((hashes >> _U64(32)) * _U64(self.num_perm)) >> _U64(32)
        np.minimum.at(sig, bins.astype(np.int64), hashes & _U64(0xFFFFFFFF))
        return self._densify(sig)

    def _densify(self, sig: np.ndarray) -> np.ndarray:
        filled = sig != _EMPTY
        todo = np.flatnonzero(~filled)
        for probe in self._probe:
            if not len(todo):
                return sig
            source = probe[todo]
            found = filled[source]
            sig[todo[found]] = sig[source[found]]
            todo = todo[~found]
        for i in todo:  # vanishingly rare: a few non-empty bins in a long signature
            j = np.flatnonzero(np.roll(filled, -int(i)))[0]
            sig[i] = sig[(i + j) % self.num_perm]
        return sig

    def _classic(self, hashes: np.ndarray) -> np.ndarray:
        sig = np.full(self.num_perm, _EMPTY, dtype=_U64)
        low = (hashes & _U64(0xFFFFFFFF)).astype(np.uint32)
        for start in range(0, len(low), 64):  # blocks that stay in cache
            block = low[start : start + 64, None] * self._perm_a
            block += self._perm_b
            np.minimum(sig, block.min(axis=0).astype(_U64), out=sig)
        return sig

    def band_keys(self, text: str) -> np.ndarray:
        """One 64-bit key per band: a hash of the band's r MinHash values."""
        return self.band_keys_of(self.signature(text)[None, :])[0]

    def band_keys_of(self, signatures: np.ndarray) -> np.ndarray:
        """Band keys for a (documents × b·r) signature matrix → (documents × b)."""
        rows = signatures.reshape(len(signatures), self.bands, self.rows)
        with np.errstate(over="ignore"):
            mixed = _fmix64((rows + _U64(1)) * self._row_mult)
            return _fmix64(mixed.sum(axis=2, dtype=_U64) + _U64(self.bands))


def seen_before(keys: np.ndarray) -> np.ndarray:
    """True where a key already occurred at an earlier position."""
    mask = np.ones(len(keys), dtype=bool)
    if len(keys):
        _, first = np.unique(keys, return_index=True)
        mask[first] = False
    return mask


def near_duplicate_mask(band_keys: np.ndarray) -> np.ndarray:
    """True for documents sharing any band key with an earlier document ((docs × bands) input)."""
    mask = np.zeros(len(band_keys), dtype=bool)
    for band in range(band_keys.shape[1] if band_keys.ndim == 2 else 0):
        mask |= seen_before(band_keys[:, band])
    return mask


def save_keys(path: Path, exact: Sequence[int], bands: np.ndarray) -> None:
    """Spill one shard's exact keys and band keys to `path` (.npz, written atomically)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, exact=np.asarray(exact, dtype=_U64), bands=np.asarray(bands, dtype=_U64))
    tmp.replace(path)


def duplicate_masks(paths: Sequence[Path], exact: bool = True, near: bool = True
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(exact-duplicate mask, near-duplicate mask) per shard, over shards in the given order."""
    loaded = [np.load(p) for p in paths]
    sizes = [len(f["exact"]) for f in loaded]
    splits = np.cumsum(sizes)[:-1]
    total = int(sum(sizes))
    exact_mask = np.zeros(total, dtype=bool)
    near_mask = np.zeros(total, dtype=bool)
    if exact and total:
        exact_mask = seen_before(np.concatenate([f["exact"] for f in loaded]))
    if near and total:
        n_bands = max(f["bands"].shape[1] for f in loaded if len(f["exact"]))
        for band in range(n_bands):  # one band of the whole corpus in memory at a time
            column = np.concatenate([f["bands"][:, band] for f in loaded if len(f["exact"])])
            near_mask |= seen_before(column)
    return list(zip(np.split(exact_mask, splits), np.split(near_mask, splits)))
