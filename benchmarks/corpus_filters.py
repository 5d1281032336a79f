"""jaforge's corpus stage side by side with HojiChar and datasketch: quality filters and near-dedup.

    python benchmarks/corpus_filters.py [--quick]

Input: Debian's Japanese documentation (man pages and manuals, built by
benchmarks/debian_ja_corpus.py, which this script runs first if its output is missing) plus the
embedded corpus (data/ja/clean, data/ja/noisy, data/ja/dups). --quick uses a few hundred documents.

Part A, filters: HojiChar's `Compose` of its standard Japanese document filters against jaforge's
`hojichar_std` preset with the same parameters and HojiChar's own word lists. The kept sets must be
identical (else the differences are listed and the run fails). Then alternating single-core runs,
and jaforge on the corpus executor with 2 workers against 1 worker over the same shards.

Part B, near-dedup at b bands × r rows (5-character shingles): HojiChar's GenerateDedupLSH +
InlineDeduplicator, datasketch's MinHash + MinHashLSH (query, then insert), and jaforge's
MinHasher + near_duplicate_mask. All three flag a document that shares a band with any earlier
one. The input holds real near-duplicates (similar man pages) and planted ones (copies of the
embedded documents with 0.2–1 % of their characters edited).
MinHash is randomised, so two correct tools disagree on documents whose similarity lies on the
LSH curve's slope; the peer's own agreement across two seeds is reported as the yardstick.

Writes benchmarks/results/corpus_filters.json; the last line of output is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternate, ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEBIAN = REPO / "benchmarks" / "data" / "debian_ja.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "corpus_filters.json"
DEDUP_CONFIGS = [(20, 10), (40, 20), (27, 18)]  # (bands, rows); 27 × 18 is HojiChar's default
EDIT_RATES = (0.002, 0.005, 0.01)  # share of characters edited in a planted copy (J ≳ 0.9)

Doc = tuple[str, str]  # (id, text)


# --- input --------------------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[Doc]:
    with open(path, encoding="utf-8") as f:
        return [(r["id"], r["text"]) for r in map(json.loads, f)]


def embedded(data: Path, parts: tuple[str, ...]) -> list[Doc]:
    """Documents of data/ja/<part>/*.jsonl, files in sorted order."""
    return [d for part in parts for f in sorted((data / "ja" / part).glob("*.jsonl"))
            for d in read_jsonl(f)]


def debian(quick: bool) -> list[Doc]:
    """The Debian documentation corpus, built first if missing (needs root for apt-get)."""
    if not DEBIAN.exists():
        if quick:
            print(f"note: {DEBIAN} missing; --quick uses the embedded corpus only", file=sys.stderr)
            return []
        sys.path.insert(0, str(Path(__file__).parent))
        import debian_ja_corpus

        debian_ja_corpus.install(debian_ja_corpus.PACKAGES)
        debian_ja_corpus.convert(debian_ja_corpus.installed(debian_ja_corpus.PACKAGES), DEBIAN)
    return read_jsonl(DEBIAN)


def sample(docs: list[Doc], n: int) -> list[Doc]:
    """Every k-th document, n in all (deterministic)."""
    step = max(len(docs) // n, 1)
    return docs[::step][:n]


def small_edit(text: str, rate: float, rng: random.Random) -> str:
    """`text` with about rate × len characters substituted, deleted or inserted."""
    chars = list(text)
    for _ in range(max(1, round(rate * len(chars)))):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.5:
            chars[i] = rng.choice(text)
        elif op < 0.75 and len(chars) > 1:
            del chars[i]
        else:
            chars.insert(i, rng.choice(text))
    return "".join(chars)


def planted_copies(originals: list[Doc], seed: int = 0) -> list[Doc]:
    """One small-edit copy of each original, in shuffled order (all after the originals)."""
    rng = random.Random(seed)
    copies = [(f"copy-{i}-of-{doc_id}", small_edit(text, EDIT_RATES[i % len(EDIT_RATES)], rng))
              for i, (doc_id, text) in enumerate(originals)]
    rng.shuffle(copies)
    return copies


# --- part A: filters ----------------------------------------------------------------------------

def jaforge_rules() -> list[Any]:
    from jaforge.corpus.rules import PRESETS, make_rule
    from jaforge.corpus.rules.hojichar import hojichar_dict_params

    params = hojichar_dict_params()  # HojiChar's own word lists, read from its package
    return [make_rule(name, {**p, **params.get(name, {})})
            for name, p in PRESETS.get("hojichar_std")()]


def hojichar_compose(rules: list[Any]) -> Any:
    from hojichar import Compose
    from jaforge.corpus.rules.hojichar import to_hojichar

    return Compose(to_hojichar(rules))


def hojichar_kept(compose: Any, docs: list[Doc]) -> dict[str, str | None]:
    """id → None if kept, else the name of the HojiChar filter that rejected it."""
    from hojichar import Document

    out = {}
    for doc_id, text in docs:
        result = compose.apply(Document(text))
        out[doc_id] = result.reject_reason.get("name") if result.is_rejected else None
    return out


def jaforge_kept(rules: list[Any], docs: list[Doc]) -> dict[str, str | None]:
    """id → None if kept, else the jaforge rule that dropped it (the corpus stage's apply_steps)."""
    from jaforge.io.document import Document
    from jaforge.corpus.pipeline import apply_steps
    from jaforge.corpus.stats import CorpusStats

    stats = CorpusStats()
    out = {}
    for doc_id, text in docs:
        dropped = apply_steps(Document(doc_id, text), rules, stats)
        out[doc_id] = dropped[0] if dropped else None
    return out


def kept_differences(peer: dict[str, str | None], ours: dict[str, str | None]) -> list[str]:
    return [f"{i}: hojichar {'keeps' if peer[i] is None else 'drops (' + str(peer[i]) + ')'}, "
            f"jaforge {'keeps' if ours[i] is None else 'drops (' + str(ours[i]) + ')'}"
            for i in peer if (peer[i] is None) != (ours[i] is None)]


def filter_shard(index: int, _: Any, folder: str) -> dict[str, int]:
    """One executor task: filter shard `index` with hojichar_std, write the kept ids."""
    docs = read_jsonl(Path(folder) / f"shard-{index:03d}.jsonl")
    kept = [i for i, why in jaforge_kept(jaforge_rules(), docs).items() if why is None]
    (Path(folder) / f"kept-{index:03d}.txt").write_text("\n".join(kept), encoding="utf-8")
    return {"docs": len(docs)}


def write_shards(docs: list[Doc], folder: Path, shards: int) -> None:
    for s in range(shards):
        with open(folder / f"shard-{s:03d}.jsonl", "w", encoding="utf-8") as f:
            for doc_id, text in docs[s::shards]:
                f.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")


def run_executor(folder: Path, shards: int, workers: int) -> set[str]:
    """The corpus stage's executor (local process pool) over the shards; the ids kept."""
    from jaforge.executor import ExecutorConfig
    from jaforge.corpus.executor import run_tasks

    run_tasks(partial(filter_shard, folder=str(folder)), list(range(shards)),
              ExecutorConfig(workers=workers, progress=False), folder / "work", "filter", "filter")
    return {i for s in range(shards)
            for i in (folder / f"kept-{s:03d}.txt").read_text("utf-8").split("\n") if i}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def part_a(docs: list[Doc], rounds: int, shards: int, scale_repeat: int = 1) -> dict[str, Any]:
    """Same kept set, single-core speed, and 2-worker scaling (over `scale_repeat` copies of the
    documents, so that process start-up is not the measurement)."""
    rules = jaforge_rules()
    compose = hojichar_compose(rules)
    peer, ours = hojichar_kept(compose, docs), jaforge_kept(rules, docs)
    differences = kept_differences(peer, ours)
    kept = {i for i, why in ours.items() if why is None}
    times = alternate({"hojichar": lambda: hojichar_kept(compose, docs),
                       "jaforge": lambda: jaforge_kept(rules, docs)}, rounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        repeated = [(f"{i}#{k}", t) for k in range(scale_repeat) for i, t in docs]
        write_shards(repeated, folder, shards)
        parallel_kept = {i.split("#")[0] for i in run_executor(folder, shards, 2)}
        cpu: dict[str, list[float]] = {"1_worker": [], "2_workers": []}

        def executor_run(workers: int, key: str) -> None:
            start = cpu_seconds()
            run_executor(folder, shards, workers)
            cpu[key].append(cpu_seconds() - start)

        scaling_times = alternate({"1_worker": partial(executor_run, 1, "1_worker"),
                                   "2_workers": partial(executor_run, 2, "2_workers")}, rounds)
    n = len(docs)
    return {
        "docs": n, "chars": sum(len(t) for _, t in docs), "kept": len(kept),
        "rules": [r.name for r in rules],
        "same_kept": not differences, "differences": differences[:50],
        "n_differences": len(differences), "executor_same_kept": parallel_kept == kept,
        "times_s": times,
        "docs_per_s": {k: n / statistics.median(v) for k, v in times.items()},
        "ratio": ratio_stats(times["hojichar"], times["jaforge"]),
        "scaling": {"shards": shards, "docs": n * scale_repeat, "times_s": scaling_times,
                    # CPU seconds / wall seconds: below ~1.9 with 2 workers means the machine's
                    # other load took the second core part of the time.
                    "cores_used": {k: statistics.median(
                        c / w for c, w in zip(cpu[k], scaling_times[k])) for k in cpu},
                    "docs_per_s": {k: n * scale_repeat / statistics.median(v)
                                   for k, v in scaling_times.items()},
                    **ratio_stats(scaling_times["1_worker"], scaling_times["2_workers"])},
    }


# --- part B: near-dedup -------------------------------------------------------------------------

def hojichar_dups(texts: list[str], bands: int, rows: int, seed: int = 42) -> np.ndarray:
    from hojichar import Compose, Document
    from hojichar.filters.deduplication import GenerateDedupLSH, InlineDeduplicator

    compose = Compose([GenerateDedupLSH(num_bands=bands, band_size=rows, seed=seed),
                       InlineDeduplicator()])
    return np.array([compose.apply(Document(t)).is_rejected for t in texts], dtype=bool)


def datasketch_dups(texts: list[str], bands: int, rows: int, seed: int = 1) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    out = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        m = MinHash(num_perm=bands * rows, seed=seed)
        m.update_batch([text[k : k + 5].encode("utf-8") for k in range(len(text) - 4)])
        out[i] = bool(lsh.query(m))
        lsh.insert(i, m)
    return out


def jaforge_dups(texts: list[str], bands: int, rows: int, seed: int = 0, batch: int = 1024
                 ) -> np.ndarray:
    from jaforge.corpus.dedup import MinHasher, near_duplicate_mask

    hasher = MinHasher(ngram=5, bands=bands, rows=rows, seed=seed)
    keys = [hasher.band_keys_of(np.stack([hasher.signature(t) for t in texts[i : i + batch]]))
            for i in range(0, len(texts), batch)]
    return near_duplicate_mask(np.concatenate(keys))


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Share of documents on which both agree, and Jaccard of their duplicate sets."""
    union = int(np.count_nonzero(a | b))
    return {"agree": float(np.mean(a == b)),
            "jaccard": float(np.count_nonzero(a & b) / union) if union else 1.0}


def part_b(texts: list[str], planted: np.ndarray, rounds: int, configs: list[tuple[int, int]]
           ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for bands, rows in configs:
        found: dict[str, np.ndarray] = {}

        def keep(name: str, fn: Callable[..., np.ndarray]) -> Callable[[], None]:
            return lambda: found.__setitem__(name, fn(texts, bands, rows))

        times = alternate({"hojichar": keep("hojichar", hojichar_dups),
                           "datasketch": keep("datasketch", datasketch_dups),
                           "jaforge": keep("jaforge", jaforge_dups)}, rounds)
        other_seed = hojichar_dups(texts, bands, rows, seed=7)
        out[f"{bands}x{rows}"] = {
            "num_perm": bands * rows,
            "duplicates": {k: int(v.sum()) for k, v in found.items()},
            "planted_found": {k: float(v[planted].mean()) for k, v in found.items()},
            "agreement": {"hojichar~jaforge": agreement(found["hojichar"], found["jaforge"]),
                          "datasketch~jaforge": agreement(found["datasketch"], found["jaforge"]),
                          "hojichar~datasketch": agreement(found["hojichar"], found["datasketch"]),
                          "hojichar~hojichar(seed 7)": agreement(found["hojichar"], other_seed)},
            "times_s": times,
            "ratio": {"hojichar": ratio_stats(times["hojichar"], times["jaforge"]),
                      "datasketch": ratio_stats(times["datasketch"], times["jaforge"])},
        }
    return out


def dedup_input(debian_docs: list[Doc], data: Path, quick: bool = False
                ) -> tuple[list[str], np.ndarray]:
    """Texts in stream order and a mask of the planted near-duplicates: the team's own
    (data/ja/dups, full runs) and a small-edit copy of each clean document."""
    clean = embedded(data, ("clean",))
    dups = [] if quick else embedded(data, ("dups",))
    if quick:
        clean = sample(clean, 100)
    copies = planted_copies(clean)
    docs = debian_docs + clean + dups + copies
    planted = np.zeros(len(docs), dtype=bool)
    planted[len(docs) - len(dups) - len(copies):] = True
    return [t for _, t in docs], planted


# --- report -------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch_version, "hojichar": version("hojichar"),
            "datasketch": version("datasketch"), "rensa": version("rensa"),
            "load_average": os.getloadavg()}


def print_table(a: dict[str, Any], b: dict[str, Any]) -> None:
    print(f"\nA. filters: {a['docs']} docs, {a['chars'] / 1e6:.1f}M chars, kept {a['kept']} "
          f"(identical: {a['same_kept']})")
    print(f"  {'':24s}{'docs/s':>10s}")
    for k, v in a["docs_per_s"].items():
        print(f"  {k:24s}{v:10.0f}")
    r, s = a["ratio"], a["scaling"]
    print(f"  ratio hojichar/jaforge  median {r['median']:.2f}  min {r['min']:.2f}  "
          f"max {r['max']:.2f}")
    print(f"  jaforge 2 workers / 1 worker ({s['shards']} shards): median {s['median']:.2f}  "
          f"min {s['min']:.2f}  max {s['max']:.2f}  (cores used: "
          f"{s['cores_used']['1_worker']:.2f} / {s['cores_used']['2_workers']:.2f})")
    print(f"\nB. near-dedup{'':11s}{'dups':>6s}{'planted':>9s}{'time s':>8s}{'ratio':>7s}"
          f"  agreement with jaforge (docs, dup-set Jaccard)")
    for config, res in b.items():
        for tool in ("hojichar", "datasketch", "jaforge"):
            ratio = res["ratio"].get(tool, {}).get("median", 1.0)
            agree = res["agreement"].get(f"{tool}~jaforge")
            note = f"  {agree['agree']:.4f}  {agree['jaccard']:.3f}" if agree else ""
            print(f"  {config:7s} {tool:12s}{res['duplicates'][tool]:8d}"
                  f"{res['planted_found'][tool]:9.3f}"
                  f"{statistics.median(res['times_s'][tool]):8.2f}{ratio:7.2f}{note}")
        base = res["agreement"]["hojichar~hojichar(seed 7)"]
        print(f"  {config:7s} hojichar seed 42 vs seed 7: {base['agree']:.4f}  "
              f"{base['jaccard']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred documents")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    data = REPO / "data"
    debian_docs = debian(args.quick)
    if args.quick:
        debian_docs = sample(debian_docs, 200)
    filter_docs = debian_docs + embedded(data, ("clean", "noisy"))
    if args.quick:
        filter_docs = sample(filter_docs, 400)
    a = part_a(filter_docs, rounds=5, shards=4 if args.quick else 16,
               scale_repeat=1 if args.quick else 8)
    if not a["same_kept"]:
        print("DIFFERENT KEPT SETS:\n  " + "\n  ".join(a["differences"]), file=sys.stderr)
    texts, planted = dedup_input(sample(debian_docs, 100) if args.quick else debian_docs, data,
                                 args.quick)
    b = part_b(texts, planted, rounds=2 if args.quick else 3,
               configs=DEDUP_CONFIGS[:2] if args.quick else DEDUP_CONFIGS)
    agree = min(r["agreement"]["hojichar~jaforge"]["agree"] for r in b.values())
    floor = min(r["agreement"]["hojichar~hojichar(seed 7)"]["agree"] for r in b.values())
    dedup_ok = agree >= 0.99 or agree >= floor - 0.005
    ratios = {"hojichar (filters)": a["ratio"]["median"]}
    for config, res in b.items():
        for peer in ("hojichar", "datasketch"):
            ratios[f"{peer} (near-dedup {config})"] = res["ratio"][peer]["median"]
    summary = {"benchmark": "corpus_filters", "peer": f"hojichar {machine()['hojichar']}",
               "same_answers": bool(a["same_kept"] and a["executor_same_kept"] and dedup_ok),
               "ratio_median": a["ratio"]["median"], "ratio_min": a["ratio"]["min"],
               "ratio_max": a["ratio"]["max"], "ratios": ratios,
               "inputs": {"filter_docs": a["docs"], "filter_chars": a["chars"],
                          "dedup_docs": len(texts), "dedup_chars": sum(map(len, texts)),
                          "planted_near_duplicates": int(planted.sum()), "quick": args.quick}}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**summary, "filters": a, "near_dedup": b,
                                    "dedup_agreement_ok": dedup_ok, "machine": machine(),
                                    "peak_rss_mb": peak_rss_mb}, ensure_ascii=False, indent=1),
                        encoding="utf-8")
    print_table(a, b)
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["same_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
