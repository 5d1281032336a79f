"""The corpus stage: read → normalise → detect Japanese → quality rules → mask PII → dedup → shards.

Three phases, each resumable by completion markers under `<output_dir>/work/`:
  1. filter (per task, parallel): read, normalise, language, quality rules, PII masking; keep
     survivors (already masked: no file of the run holds unmasked PII) and spill their exact and
     MinHash band keys to disk;
  2. dedup (global): find exact and near duplicates over all tasks in input order;
  3. write (per task, parallel): drop duplicates, write the final shard.
Tasks come from `tasks.plan_tasks` (a big file is several tasks); the executor runs them.
"""

from __future__ import annotations

import gzip
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from jaforge.corpus.config import CorpusConfig
from jaforge.corpus.dedup import MinHasher, duplicate_masks, exact_key, save_keys
from jaforge.io.document import Document
from jaforge.corpus.executor import mark_done, marker, run_tasks
from jaforge.corpus.langid import JapaneseDetector
from jaforge.corpus.normalize import Normalize
from jaforge.corpus.pii import PIIMasker
from jaforge.io.readers import read_documents
from jaforge.corpus.rules import resolve_rules
from jaforge.io.skips import SkipLog
from jaforge.corpus.stats import CorpusStats
from jaforge.corpus.tasks import Task, plan_tasks
from jaforge.corpus.writers import REJECT_COLUMNS, SUFFIX, ShardWriter
from jaforge.errors import RunDirError
from jaforge.io.atomic import write_json

log = logging.getLogger("jaforge.corpus")

DUPLICATE_REASON = {1: "exact_duplicate", 2: "near_duplicate"}
SIGNATURE_BATCH = 1024


def build_steps(cfg: CorpusConfig) -> list[Any]:
    """Normalisation, language detection and the quality rules, in order."""
    steps: list[Any] = []
    if cfg.normalize.enabled:
        steps.append(Normalize(cfg.normalize))
    if cfg.language.enabled:
        steps.append(JapaneseDetector(cfg.language))
    q = cfg.quality
    steps += resolve_rules(q.preset, q.rules, q.params, q.disable)
    return steps


def build_masker(cfg: CorpusConfig) -> PIIMasker | None:
    return PIIMasker(cfg.pii.types, cfg.pii.keep_ip_ranges) if cfg.pii.enabled else None


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

    def plan(self) -> Path:
        return self.work / "tasks.json"

    def rejects(self, phase: str, i: int) -> Path:
        return self.out / "rejects" / f"{phase}-{i:05d}{SUFFIX[self.shard_format]}"

    def shard(self, i: int) -> Path:
        return self.out / "data" / f"part-{i:05d}{SUFFIX[self.shard_format]}"


def filter_task(index: int, task: Task, cfg: CorpusConfig) -> dict[str, Any]:
    """Phase 1 for one task: read, filter and mask; keep survivors and their dedup keys."""
    layout = RunLayout(Path(cfg.output_dir), cfg.output.format)
    stats, steps, masker = CorpusStats(), build_steps(cfg), build_masker(cfg)
    hasher = MinHasher(cfg.dedup.ngram, cfg.dedup.bands, cfg.dedup.rows, cfg.dedup.seed)
    exact, signatures, bands = [], [], []
    layout.skipped(index).parent.mkdir(parents=True, exist_ok=True)
    with open(layout.skipped(index), "w", encoding="utf-8") as skip_sink, \
            ShardWriter(layout.filtered(index), "jsonl.gz", gzip_level=1) as kept, \
            RejectSink(cfg, layout.rejects("filter", index), build_masker(cfg)) as rejects:
        skips = SkipLog(skip_sink, redact=build_masker(cfg).mask if masker else None)
        for doc in _task_documents(task, cfg, skips):
            stats.docs_read += 1
            stats.chars_read += len(doc.text)
            dropped = apply_steps(doc, steps, stats)
            if dropped:
                rejects.write(doc, *dropped)
                continue
            if masker is not None:
                apply_steps(doc, [masker], stats)
            kept.write(doc.to_record())
            exact.append(exact_key(doc.text))
            signatures.append(hasher.signature(doc.text))
            if len(signatures) == SIGNATURE_BATCH:
                bands.append(hasher.band_keys_of(np.stack(signatures)))
                signatures = []
        stats.skipped.update(skips.counts)
    if signatures:
        bands.append(hasher.band_keys_of(np.stack(signatures)))
    if masker is not None:
        stats.pii_masked.update(masker.counts)
    band_matrix = np.concatenate(bands) if bands else np.zeros((0, cfg.dedup.bands), np.uint64)
    layout.keys(index).parent.mkdir(parents=True, exist_ok=True)
    save_keys(layout.keys(index), exact, band_matrix)
    write_json(layout.stats("filter", index), stats.to_dict())
    mark_done(layout.work, "filter", index)
    return {"docs": stats.docs_read}


def _task_documents(task: Task, cfg: CorpusConfig, skips: SkipLog):
    if task.unit == "file":
        for path in task.files:
            yield from read_documents(path, cfg.input, skips)
    else:
        yield from read_documents(task.files[0], cfg.input, skips,
                                  (task.unit, task.start, task.stop, task.first_line))


def dedup_all(cfg: CorpusConfig, n_tasks: int) -> None:
    """Phase 2: mark exact (1) and near (2) duplicates of every task in input order."""
    layout = RunLayout(Path(cfg.output_dir), cfg.output.format)
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


def write_task(index: int, _: Any, cfg: CorpusConfig) -> dict[str, Any]:
    """Phase 3 for one task: drop duplicates, write the final shard."""
    layout = RunLayout(Path(cfg.output_dir), cfg.output.format)
    stats = CorpusStats()
    codes = np.load(layout.duplicates(index))
    as_lines = cfg.output.format != "parquet"
    with gzip.open(layout.filtered(index), "rt", encoding="utf-8") as source, \
            ShardWriter(layout.shard(index), cfg.output.format, skip_empty=True) as shard, \
            RejectSink(cfg, layout.rejects("dedup", index), None) as rejects:
        for position, line in enumerate(source):
            record = json.loads(line)
            if not _survives_dedup(record, int(codes[position]), cfg, stats, rejects):
                continue
            stats.docs_written += 1
            stats.chars_written += len(record["text"])
            shard.write_line(line) if as_lines else shard.write(record)
    write_json(layout.stats("write", index), stats.to_dict())
    mark_done(layout.work, "write", index)
    return {"docs": len(codes)}


def _survives_dedup(record: dict[str, str], code: int, cfg: CorpusConfig, stats: CorpusStats,
                    rejects: "RejectSink") -> bool:
    chars = len(record["text"])
    for name, enabled, own_code in (("exact_dedup", cfg.dedup.exact, 1), ("near_dedup", cfg.dedup.near, 2)):
        if not enabled:
            continue
        count = stats.step(name)
        count.docs_in += 1
        count.chars_in += chars
        if code == own_code:
            count.drops[DUPLICATE_REASON[code]] += 1
            rejects.write_record(record, name, DUPLICATE_REASON[code])
            return False
        count.docs_out += 1
        count.chars_out += chars
    return True


class RejectSink:
    """Writes dropped documents (PII masked) with step and reason when `output.write_rejects`
    is on, in the shard format, every rejects shard with the same columns."""

    def __init__(self, cfg: CorpusConfig, path: Path, masker: PIIMasker | None):
        self._writer = (ShardWriter(path, cfg.output.format, skip_empty=True, columns=REJECT_COLUMNS)
                        if cfg.output.write_rejects else None)
        self._masker = masker

    def __enter__(self) -> "RejectSink":
        if self._writer is not None:
            self._writer.__enter__()
        return self

    def write(self, doc: Document, step: str, reason: str) -> None:
        if self._writer is not None:
            if self._masker is not None:
                self._masker(doc)
            self.write_record(doc.to_record(), step, reason)

    def write_record(self, record: dict[str, str], step: str, reason: str) -> None:
        if self._writer is not None:
            self._writer.write({**record, "step": step, "reason": reason})

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.__exit__(*exc)


def planned_tasks(cfg: CorpusConfig, layout: RunLayout) -> list[Task]:
    """This run's tasks; a resumed run must find the same plan (the same input files)."""
    tasks = plan_tasks(cfg.input)
    plan = [t.to_dict() for t in tasks]
    if layout.plan().exists():
        saved = json.loads(layout.plan().read_text("utf-8"))
        if saved != plan:
            raise RunDirError(f"{layout.out} holds a run over other input files (or files that "
                              f"changed since); choose another output_dir or delete {layout.work} "
                              f"to start over")
    else:
        write_json(layout.plan(), plan)
    return tasks


def run_phases(cfg: CorpusConfig) -> CorpusStats:
    """Run (or resume) all three phases and return the merged statistics."""
    layout = RunLayout(Path(cfg.output_dir), cfg.output.format)
    build_steps(cfg)  # fail on a bad rule or PII config before any work starts
    build_masker(cfg)
    tasks = planned_tasks(cfg, layout)
    indices = list(range(len(tasks)))
    run: Callable[..., None] = partial(run_tasks, indices=indices, cfg=cfg.executor, work=layout.work)
    run(partial(filter_task, cfg=cfg), phase="filter", label="filter", args=tasks)
    dedup_all(cfg, len(tasks))
    run(partial(write_task, cfg=cfg), phase="write", label="write")
    stats = CorpusStats()
    for phase in ("filter", "write"):
        for i in indices:
            stats.merge(CorpusStats.from_dict(json.loads(layout.stats(phase, i).read_text("utf-8"))))
    return stats
