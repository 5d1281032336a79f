"""The corpus stage: read → normalise → detect Japanese → quality rules → dedup → mask PII → shards.

Three phases, each resumable by completion markers under `<output.dir>/work/`:
  1. filter (per task, parallel): read, normalise, language, quality rules; keep survivors and
     spill their exact and MinHash band keys to disk;
  2. dedup (global): find exact and near duplicates over all tasks in input order;
  3. write (per task, parallel): drop duplicates, mask PII, write the final shard.
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from jaforge.corpus.config import CorpusConfig, InputConfig
from jaforge.corpus.dedup import MinHasher, duplicate_masks, exact_key, save_keys
from jaforge.corpus.document import Document
from jaforge.corpus.executor import mark_done, marker, run_tasks
from jaforge.corpus.langid import JapaneseDetector
from jaforge.corpus.normalize import Normalize
from jaforge.corpus.pii import PIIMasker
from jaforge.corpus.readers import FORMAT_BY_SUFFIX, detect_format, read_documents
from jaforge.corpus.rules import resolve_rules
from jaforge.corpus.skips import SkipLog
from jaforge.corpus.stats import CorpusStats
from jaforge.corpus.writers import SUFFIX, ShardWriter

log = logging.getLogger("jaforge.corpus")

FILES_PER_TASK = {"txt": 256, "html": 64}  # one-document-per-file formats are grouped into tasks
DUPLICATE_REASON = {1: "exact_duplicate", 2: "near_duplicate"}
SIGNATURE_BATCH = 1024


def list_tasks(cfg: InputConfig) -> list[list[str]]:
    """The input files grouped into tasks, in a stable (sorted) order."""
    files: list[str] = []
    for pattern in cfg.paths:
        path = Path(pattern)
        if path.is_dir():
            found = [str(p) for p in sorted(path.rglob("*")) if p.is_file() and _readable(p, cfg)]
        else:
            found = sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise FileNotFoundError(f"input.paths: nothing matches '{pattern}'")
        files += [f for f in found if f not in files]
    tasks: list[list[str]] = []
    for f in files:
        fmt = cfg.format if cfg.format != "auto" else detect_format(f)
        group = FILES_PER_TASK.get(fmt)
        if group and tasks and len(tasks[-1]) < group and _same_format(tasks[-1][-1], fmt, cfg):
            tasks[-1].append(f)
        else:
            tasks.append([f])
    return tasks


def _readable(path: Path, cfg: InputConfig) -> bool:
    return cfg.format != "auto" or any(str(path).lower().endswith(s) for s in FORMAT_BY_SUFFIX)


def _same_format(path: str, fmt: str, cfg: InputConfig) -> bool:
    return (cfg.format if cfg.format != "auto" else detect_format(path)) == fmt


def build_steps(cfg: CorpusConfig) -> list[Any]:
    steps: list[Any] = []
    if cfg.normalize.enabled:
        steps.append(Normalize(cfg.normalize))
    if cfg.language.enabled:
        steps.append(JapaneseDetector(cfg.language))
    q = cfg.quality
    steps += resolve_rules(q.preset, q.rules, q.params, q.disable)
    return steps


def apply_steps(doc: Document, steps: list[Any], stats: CorpusStats) -> tuple[str, str] | None:
    """Run the steps on `doc` counting docs/chars in and out; (step, reason) if it is dropped."""
    for step in steps:
        count = stats.step(step.name)
        count.docs_in += 1
        count.chars_in += len(doc.text)
        reason = step(doc)
        if reason:
            count.drops[reason] += 1
            return step.name, reason
        count.docs_out += 1
        count.chars_out += len(doc.text)
    return None


class RunLayout:
    """Where a run keeps its files."""

    def __init__(self, out: Path, shard_format: str):
        self.out, self.work = out, out / "work"
        self.shard_format = shard_format

    def filtered(self, i: int) -> Path:
        return self.work / "filtered" / f"part-{i:05d}.jsonl.gz"

    def keys(self, i: int) -> Path:
        return self.work / "keys" / f"part-{i:05d}.npz"

    def duplicates(self, i: int) -> Path:
        return self.work / "duplicates" / f"part-{i:05d}.npy"

    def stats(self, phase: str, i: int) -> Path:
        return self.work / "stats" / f"{phase}-{i:05d}.json"

    def skipped(self, i: int) -> Path:
        return self.work / "skipped" / f"part-{i:05d}.jsonl"

    def rejects(self, phase: str, i: int) -> Path:
        return self.out / "rejects" / f"{phase}-{i:05d}.jsonl.gz"

    def shard(self, i: int) -> Path:
        return self.out / "data" / f"part-{i:05d}{SUFFIX[self.shard_format]}"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def filter_task(index: int, cfg: CorpusConfig, tasks: list[list[str]]) -> dict[str, Any]:
    """Phase 1 for one task: read and filter; keep survivors and their dedup keys."""
    layout = RunLayout(Path(cfg.output.dir), cfg.output.format)
    stats, steps = CorpusStats(), build_steps(cfg)
    hasher = MinHasher(cfg.dedup.ngram, cfg.dedup.bands, cfg.dedup.rows, cfg.dedup.seed)
    exact, signatures, bands = [], [], []
    layout.skipped(index).parent.mkdir(parents=True, exist_ok=True)
    with open(layout.skipped(index), "w", encoding="utf-8") as skip_sink, \
            ShardWriter(layout.filtered(index), "jsonl.gz", gzip_level=1) as kept, \
            _RejectSink(cfg, layout.rejects("filter", index)) as rejects:
        skips = SkipLog(skip_sink)
        for path in tasks[index]:
            for doc in read_documents(path, cfg.input, skips):
                dropped = apply_steps(doc, steps, stats)
                if dropped:
                    rejects.write(doc, *dropped)
                    continue
                kept.write(doc.to_record())
                exact.append(exact_key(doc.text))
                signatures.append(hasher.signature(doc.text))
                if len(signatures) == SIGNATURE_BATCH:
                    bands.append(hasher.band_keys_of(np.stack(signatures)))
                    signatures = []
        stats.skipped.update(skips.counts)
    if signatures:
        bands.append(hasher.band_keys_of(np.stack(signatures)))
    band_matrix = np.concatenate(bands) if bands else np.zeros((0, cfg.dedup.bands), np.uint64)
    layout.keys(index).parent.mkdir(parents=True, exist_ok=True)
    save_keys(layout.keys(index), exact, band_matrix)
    _write_json(layout.stats("filter", index), stats.to_dict())
    mark_done(layout.work, "filter", index)
    first_step = next(iter(stats.steps.values()), None)
    return {"docs": first_step.docs_in if first_step else 0}


def dedup_all(cfg: CorpusConfig, n_tasks: int) -> None:
    """Phase 2: mark exact (1) and near (2) duplicates of every task in input order."""
    layout = RunLayout(Path(cfg.output.dir), cfg.output.format)
    if marker(layout.work, "dedup", 0).exists():
        return
    masks = duplicate_masks([layout.keys(i) for i in range(n_tasks)], cfg.dedup.exact, cfg.dedup.near)
    for i, (exact_mask, near_mask) in enumerate(masks):
        codes = np.where(exact_mask, 1, np.where(near_mask, 2, 0)).astype(np.uint8)
        path = layout.duplicates(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, codes)
        tmp.replace(path)
    mark_done(layout.work, "dedup", 0)


def write_task(index: int, cfg: CorpusConfig) -> dict[str, Any]:
    """Phase 3 for one task: drop duplicates, mask PII, write the final shard."""
    layout = RunLayout(Path(cfg.output.dir), cfg.output.format)
    stats = CorpusStats()
    codes = np.load(layout.duplicates(index))
    masker = PIIMasker(cfg.pii.types) if cfg.pii.enabled else None
    with gzip.open(layout.filtered(index), "rt", encoding="utf-8") as source, \
            ShardWriter(layout.shard(index), cfg.output.format, skip_empty=True) as shard, \
            _RejectSink(cfg, layout.rejects("dedup", index)) as rejects:
        for position, line in enumerate(source):
            record = json.loads(line)
            doc = Document(record["id"], record["text"], record.get("metadata", {}))
            if not _survives_dedup(doc, int(codes[position]), cfg, stats, rejects):
                continue
            if masker is not None:
                apply_steps(doc, [masker], stats)
            shard.write(doc.to_record())
    if masker is not None:
        stats.pii_masked.update(masker.counts)
    _write_json(layout.stats("write", index), stats.to_dict())
    mark_done(layout.work, "write", index)
    return {"docs": len(codes)}


def _survives_dedup(doc: Document, code: int, cfg: CorpusConfig, stats: CorpusStats,
                    rejects: "_RejectSink") -> bool:
    for name, enabled, own_code in (("exact_dedup", cfg.dedup.exact, 1), ("near_dedup", cfg.dedup.near, 2)):
        if not enabled:
            continue
        count = stats.step(name)
        count.docs_in += 1
        count.chars_in += len(doc.text)
        if code == own_code:
            count.drops[DUPLICATE_REASON[code]] += 1
            rejects.write(doc, name, DUPLICATE_REASON[code])
            return False
        count.docs_out += 1
        count.chars_out += len(doc.text)
    return True


class _RejectSink:
    """Writes dropped documents with step and reason when `output.write_rejects` is on."""

    def __init__(self, cfg: CorpusConfig, path: Path):
        self._writer = ShardWriter(path, "jsonl.gz", skip_empty=True) if cfg.output.write_rejects else None

    def __enter__(self) -> "_RejectSink":
        if self._writer is not None:
            self._writer.__enter__()
        return self

    def write(self, doc: Document, step: str, reason: str) -> None:
        if self._writer is not None:
            self._writer.write({**doc.to_record(), "step": step, "reason": reason,
                                "source": doc.source})

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.__exit__(*exc)


def run_phases(cfg: CorpusConfig) -> CorpusStats:
    """Run (or resume) all three phases and return the merged statistics."""
    tasks = list_tasks(cfg.input)
    layout = RunLayout(Path(cfg.output.dir), cfg.output.format)
    build_steps(cfg)  # fail on a bad rule config before any work starts
    indices = list(range(len(tasks)))
    run_tasks(partial(filter_task, cfg=cfg, tasks=tasks), indices, cfg.executor, layout.work,
              "filter", "filter")
    dedup_all(cfg, len(tasks))
    run_tasks(partial(write_task, cfg=cfg), indices, cfg.executor, layout.work, "write", "write")
    stats = CorpusStats()
    for phase in ("filter", "write"):
        for i in indices:
            stats.merge(CorpusStats.from_dict(json.loads(layout.stats(phase, i).read_text("utf-8"))))
    return stats
