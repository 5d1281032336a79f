"""The corpus stage on one big JSONL file: 2 workers against 1, side by side, same output bytes.

    python benchmarks/corpus_scaling.py [--quick] [--copies N] [--task-bytes B]

Input: one plain JSONL file of Debian's Japanese documentation (benchmarks/debian_ja_corpus.py
builds it), written `--copies` times with distinct ids so that the file holds at least 25 MB
(the dump-file case: one input file, nothing for a per-file executor to share out). The whole
stage runs with its defaults (ja_web, dedup, PII masking, jsonl.gz shards); the file is split
into tasks of about `input.task_bytes`. Alternating rounds of 1 and 2 workers, each into a fresh
output directory; every round's shards must be byte-identical to the first 1-worker round's.
CPU seconds / wall seconds per run shows how much of the second core the run got (the other
engineers' load on this 2-core machine takes the rest).

Writes benchmarks/results/corpus_scaling.json; the last line of output is the JSON summary
(`ratio_*` = 1-worker time / 2-worker time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_filters import cpu_seconds, debian, machine, sample  # noqa: E402
from timing import alternate, ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "corpus_scaling.json"
MIN_BYTES = 25_000_000


def write_input(path: Path, docs: list[tuple[str, str]], copies: int) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for k in range(copies):
            for doc_id, text in docs:
                f.write(json.dumps({"id": f"{doc_id}#{k}", "text": text}, ensure_ascii=False) + "\n")
    return path.stat().st_size


def corpus_run(inp: Path, out: Path, workers: int, task_bytes: int) -> dict[str, Any]:
    from jaforge.config import load_config
    from jaforge.corpus import CorpusConfig, run

    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(CorpusConfig, None, [
        ("input.paths", f"[{inp}]"), ("output_dir", str(out)), ("input.task_bytes", str(task_bytes)),
        ("executor.workers", str(workers)), ("executor.progress", "false")])
    return run(cfg).metrics


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 documents, 2 rounds")
    parser.add_argument("--copies", type=int, help="copies of the corpus in the file (default: to 25 MB)")
    parser.add_argument("--task-bytes", type=int, default=None, help="input.task_bytes (default: the stage's)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from jaforge.io.readers import InputConfig
    from jaforge.corpus.tasks import plan_tasks

    docs = debian(args.quick)
    if args.quick:
        docs = sample(docs, 300)
    size_once = sum(len(json.dumps({"id": i, "text": t}, ensure_ascii=False).encode()) for i, t in docs)
    copies = args.copies or (1 if args.quick else -(-MIN_BYTES // max(size_once, 1)))
    task_bytes = args.task_bytes or (200_000 if args.quick else InputConfig().task_bytes)
    rounds = args.rounds or (2 if args.quick else 5)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        size = write_input(tmp / "dump.jsonl", docs, copies)
        tasks = len(plan_tasks(InputConfig(paths=[str(tmp / "dump.jsonl")], task_bytes=task_bytes)))
        metrics = corpus_run(tmp / "dump.jsonl", tmp / "reference", 1, task_bytes)
        reference = shard_bytes(tmp / "reference")
        cpu: dict[str, list[float]] = {"1_worker": [], "2_workers": []}
        same = [True]

        def one_run(workers: int, key: str) -> None:
            start = cpu_seconds()
            corpus_run(tmp / "dump.jsonl", tmp / key, workers, task_bytes)
            cpu[key].append(cpu_seconds() - start)
            same[0] &= shard_bytes(tmp / key) == reference

        times = alternate({"1_worker": partial(one_run, 1, "1_worker"),
                           "2_workers": partial(one_run, 2, "2_workers")}, rounds)
    ratio = ratio_stats(times["1_worker"], times["2_workers"])
    cores = {k: statistics.median(c / w for c, w in zip(cpu[k], times[k])) for k in cpu}
    summary = {"benchmark": "corpus_scaling", "peer": "jaforge corpus, 1 worker",
               "same_answers": same[0], "ratio_median": ratio["median"], "ratio_min": ratio["min"],
               "ratio_max": ratio["max"],
               "inputs": {"file_bytes": size, "docs": len(docs) * copies, "copies": copies,
                          "task_bytes": task_bytes, "tasks": tasks, "quick": args.quick}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**summary, "times_s": times, "cores_used": cores,
                                    "metrics": metrics, "load_average_before": load_before,
                                    "load_average_after": os.getloadavg(), "machine": machine()},
                                   ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\none {size / 1e6:.1f} MB JSONL ({len(docs) * copies:,} documents, {tasks} tasks of "
          f"≤ {task_bytes / 1e6:.1f} MB): kept {metrics['docs_out']:,} documents")
    for key in times:
        print(f"  {key:10s} median {statistics.median(times[key]):6.2f} s   cores used {cores[key]:.2f}")
    print(f"  1 worker / 2 workers: median {ratio['median']:.2f}  min {ratio['min']:.2f}  "
          f"max {ratio['max']:.2f}   same shards: {same[0]}   load before {load_before[0]:.2f}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if same[0] else 1


if __name__ == "__main__":
    sys.exit(main())
