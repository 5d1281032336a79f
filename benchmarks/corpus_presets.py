"""What each quality preset does to real Japanese text, and swallow_v1 beside the released Swallow
corpus annotator, rule by rule.

    python benchmarks/corpus_presets.py --swallow-repo PATH [--quick]

PATH is a local copy of github.com/swallow-llm/swallow-corpus (its `quality.py` and `ngword.py`
are imported from there; none of its code is in jaforge). Without it, part B is skipped.

Input: Debian's Japanese documentation (benchmarks/debian_ja_corpus.py builds it; man pages and
manuals) and the team-written sets data/ja/long (long clean documents), data/ja/clean and
data/ja/noisy (labelled defects).

Part A, presets: each document goes through the corpus stage's filter steps (normalise, detect
Japanese, the preset's rules) as `jaforge corpus` runs them. Printed per preset: kept documents
and characters of the Debian corpus, the kept share per length bucket (a length bias shows as a
falling row), the main drop reasons, and on the labelled sets the long-document keep rate, the
clean keep rate and the noisy recall (the share of defective documents dropped).

Part B, the released annotator: `quality.main` + `quality.apply_v1` + `ngword` (NG words from
data/ja/noisy/ng_words.txt in a dartsclone trie, as `ngword.py` builds it) against jaforge's
swallow_v1 rules on the same raw texts. Per rule, the share of documents where both say the same
(each reference rule is read off `apply_v1` by giving it a passing document's values for every
other rule); per document, the share with the same keep/drop. Then both are timed, alternating.

Writes benchmarks/results/corpus_presets.json; the last line of output is the JSON summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_filters import debian, machine, read_jsonl, sample  # noqa: E402
from timing import alternate, ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "corpus_presets.json"
PRESETS = ("ja_web", "ja_docs", "swallow_v1", "llmjp_v1", "hojichar_std")
BUCKETS = [(400, 1_000, "400–1k"), (1_000, 2_000, "1–2k"), (2_000, 5_000, "2–5k"),
           (5_000, 20_000, "5–20k"), (20_000, 10**12, ">20k")]
# The annotator's values (quality.main) that each of jaforge's swallow_v1 rules stands for.
RULE_KEYS = {
    "min_length": ["num_letters"],
    "duplicate_lines": ["duplicate_paragraph_fraction"],
    "duplicate_sentences": ["duplicate_sentence_fraction"],
    "duplicate_line_chars": ["duplicate_paragraph_fraction_in_character"],
    "duplicate_sentence_chars": ["duplicate_sentence_fraction_in_character"],
    "top_ngram_share": [f"top_{n}gram_character_fraction" for n in (2, 3, 4)],
    "duplicate_ngram_share": [f"duplicate_{n}gram_character_fraction" for n in range(5, 11)],
    "hiragana_ratio": ["hiragana_fraction"],
    "katakana_ratio": ["katakana_fraction"],
    "japanese_ratio": ["japanese_fraction"],
    "japanese_letters": ["num_japanese_letters"],
    "mean_sentence_length": ["avg_sentence_length"],
    "max_sentence_length": ["max_sentence_length"],
    "ellipsis_ending": ["ellipsis_fraction"],
}
NG_WORDS = REPO / "data" / "ja" / "noisy" / "ng_words.txt"

Doc = tuple[str, str]


# --- part A: presets on real and labelled text ------------------------------------------------

def filter_steps(preset: str, params: dict | None = None) -> list[Any]:
    from jaforge.corpus.config import CorpusConfig, QualityConfig
    from jaforge.corpus.pipeline import build_steps

    return build_steps(CorpusConfig(quality=QualityConfig(preset=preset, params=params or {})))


def run_filters(steps: list[Any], docs: list[Doc]) -> list[tuple[str | None, int]]:
    """(drop reason or None, characters after the steps) per document."""
    from jaforge.io.document import Document
    from jaforge.corpus.pipeline import apply_steps
    from jaforge.corpus.stats import CorpusStats

    out = []
    for doc_id, text in docs:
        doc = Document(doc_id, text)
        dropped = apply_steps(doc, steps, CorpusStats())
        out.append((dropped[1] if dropped else None, len(doc.text)))
    return out


def bucket_of(length: int) -> str | None:
    return next((name for low, high, name in BUCKETS if low <= length < high), None)


def preset_report(preset: str, sets: dict[str, list[Doc]]) -> dict[str, Any]:
    steps = filter_steps(preset)
    results = {name: run_filters(steps, docs) for name, docs in sets.items()}
    deb, deb_docs = results["debian"], sets["debian"]
    kept = [(d, r) for d, r in zip(deb_docs, deb) if r[0] is None]
    per_bucket: dict[str, list[int]] = {name: [0, 0] for _, _, name in BUCKETS}
    for (_, text), (reason, _) in zip(deb_docs, deb):
        bucket = bucket_of(len(text))
        if bucket:
            per_bucket[bucket][0] += reason is None
            per_bucket[bucket][1] += 1
    reasons = Counter(r for r, _ in deb if r)
    share = lambda name: sum(r is None for r, _ in results[name]) / max(len(results[name]), 1)  # noqa: E731
    return {
        "debian": {"docs": len(deb_docs), "kept_docs": len(kept),
                   "chars": sum(len(t) for _, t in deb_docs),
                   "kept_chars": sum(chars for _, (_, chars) in kept),
                   "kept_median_chars": statistics.median([c for _, (_, c) in kept]) if kept else 0,
                   "kept_by_length": {b: (k / n if n else None) for b, (k, n) in per_bucket.items()},
                   "bucket_docs": {b: n for b, (_, n) in per_bucket.items()},
                   "drop_reasons": dict(reasons.most_common(6))},
        "long_kept": share("long"), "clean_kept": share("clean"), "noisy_recall": 1 - share("noisy"),
        "long_dropped": [doc_id for (doc_id, _), (r, _) in zip(sets["long"], results["long"]) if r],
    }


# --- part B: the released Swallow annotator ----------------------------------------------------

def load_module(repo: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"swallow_{name}", repo / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Reference:
    """The released annotator: its values, its per-rule verdicts and its keep/drop."""

    def __init__(self, repo: Path, baseline_texts: list[str], workdir: Path):
        self.quality = load_module(repo, "quality")
        self.ngword = load_module(repo, "ngword")
        words = sorted({w.strip() for w in NG_WORDS.read_text("utf-8").splitlines() if w.strip()})
        import dartsclone

        darts = dartsclone.DoubleArray()  # what ngword.py's __main__ builds from its lists
        darts.build([w.encode("utf-8") for w in words], values=[len(w) for w in words])
        darts.save(str(workdir / "ng.dic"))
        self.matcher = self.ngword.LongestMatch()
        self.matcher.load(str(workdir / "ng.dic"))
        self.baseline = next(q for q in map(self.values, baseline_texts)
                             if q and self.quality.apply_v1(q))

    def values(self, text: str) -> dict | None:
        try:
            return self.quality.main({"text": text})
        except (ValueError, IndexError):  # e.g. max() of no sentence
            return None

    def verdicts(self, text: str) -> tuple[dict[str, bool], bool]:
        """rule → dropped, and whether the document is dropped."""
        q = self.values(text)
        if q is None:
            return {rule: True for rule in [*RULE_KEYS, "ng_words"]}, True
        rules = {}
        for rule, keys in RULE_KEYS.items():
            probe = {**self.baseline, **{k: q[k] for k in keys}}
            rules[rule] = not self.quality.apply_v1(probe)
        ng = self.matcher.stat(text, q["num_japanese_letters"])
        rules["ng_words"] = not self.ngword.apply_v1(ng)
        return rules, not self.quality.apply_v1(q) or rules["ng_words"]


def jaforge_swallow_rules() -> list[Any]:
    from jaforge.corpus.rules import PRESETS, make_rule

    return [make_rule(name, {**params, **({"path": str(NG_WORDS)} if name == "ng_words" else {})})
            for name, params in PRESETS.get("swallow_v1")() if name != "footer_trim"]


def jaforge_verdicts(rules: list[Any], text: str) -> tuple[dict[str, bool], bool]:
    from jaforge.io.document import Document

    doc = Document("d", text)
    verdicts = {rule.name: rule(doc) is not None for rule in rules}
    return verdicts, any(verdicts.values())


def agreement(reference: Reference, docs: list[Doc]) -> dict[str, Any]:
    rules = jaforge_swallow_rules()
    same_rule: Counter[str] = Counter()
    same_doc, differences, ref_kept, our_kept = 0, [], 0, 0
    for doc_id, text in docs:
        theirs, their_drop = reference.verdicts(text)
        ours, our_drop = jaforge_verdicts(rules, text)
        for rule in theirs:
            same_rule[rule] += theirs[rule] == ours[rule]
        same_doc += their_drop == our_drop
        ref_kept += not their_drop
        our_kept += not our_drop
        if their_drop != our_drop or theirs != ours:
            differences.append(f"{doc_id}: " + ", ".join(
                f"{r} ({'released' if theirs[r] else 'jaforge'} drops)" for r in theirs
                if theirs[r] != ours[r]))
    n = len(docs)
    return {"docs": n, "per_rule": {r: same_rule[r] / n for r in same_rule},
            "per_document": same_doc / n, "released_kept": ref_kept, "jaforge_kept": our_kept,
            "differences": differences[:30], "n_differences": len(differences)}


def time_both(reference: Reference, docs: list[Doc], rounds: int) -> dict[str, Any]:
    rules = jaforge_swallow_rules()
    texts = [t for _, t in docs]
    times = alternate({"released": lambda: [reference.verdicts(t) for t in texts],
                       "jaforge": lambda: [jaforge_verdicts(rules, t) for t in texts]}, rounds)
    return {"times_s": times, "ratio": ratio_stats(times["released"], times["jaforge"])}


# --- report -------------------------------------------------------------------------------------

def load_sets(quick: bool) -> dict[str, list[Doc]]:
    data = REPO / "data" / "ja"
    read = lambda part: [d for f in sorted((data / part).glob("*.jsonl")) for d in read_jsonl(f)]  # noqa: E731
    sets = {"debian": debian(quick), "long": read("long"), "clean": read("clean"),
            "noisy": read_jsonl(data / "noisy" / "noisy.jsonl")}
    if quick:
        sets = {k: sample(v, 150) for k, v in sets.items()}
    return sets


def print_presets(presets: dict[str, Any]) -> None:
    first = next(iter(presets.values()))["debian"]
    print(f"\nA. presets on {first['docs']:,} Debian documents ({first['chars'] / 1e6:.1f}M chars) "
          f"and the labelled sets")
    head = "".join(f"{b:>8s}" for _, _, b in BUCKETS)
    print(f"  {'preset':14s}{'kept docs':>11s}{'kept chars':>12s}{'median':>8s}  kept by length:{head}"
          f"{'long':>7s}{'clean':>7s}{'noisy↓':>8s}")
    for name, r in presets.items():
        d = r["debian"]
        cells = "".join(f"{v:8.0%}" if v is not None else f"{'-':>8s}" for v in d["kept_by_length"].values())
        print(f"  {name:14s}{d['kept_docs'] / d['docs']:11.1%}{d['kept_chars'] / d['chars']:12.1%}"
              f"{d['kept_median_chars']:8,.0f}  {'':15s}{cells}{r['long_kept']:7.0%}"
              f"{r['clean_kept']:7.0%}{r['noisy_recall']:8.0%}")
    counts = "".join(f"{n:8d}" for n in first["bucket_docs"].values())
    print(f"  {'(documents)':14s}{'':31s}  {'':15s}{counts}")
    for name, r in presets.items():
        print(f"  {name} drops: " + ", ".join(f"{k} {v}" for k, v in r["debian"]["drop_reasons"].items()))


def print_agreement(b: dict[str, Any]) -> None:
    a = b["agreement"]
    print(f"\nB. swallow_v1 vs the released annotator on {a['docs']:,} documents: same keep/drop "
          f"{a['per_document']:.2%} (kept: released {a['released_kept']}, jaforge {a['jaforge_kept']})")
    for rule, share in a["per_rule"].items():
        print(f"  {rule:26s}{share:9.2%}")
    r = b["timing"]["ratio"]
    print(f"  time released / jaforge: median {r['median']:.2f}  min {r['min']:.2f}  max {r['max']:.2f}")
    for line in a["differences"][:10]:
        print(f"  differs: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swallow-repo", type=Path, help="a copy of swallow-llm/swallow-corpus")
    parser.add_argument("--quick", action="store_true", help="150 documents of each set")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sets = load_sets(args.quick)
    presets = {name: preset_report(name, sets) for name in PRESETS}
    print_presets(presets)
    part_b: dict[str, Any] = {}
    if args.swallow_repo:
        with tempfile.TemporaryDirectory() as tmp:
            clean_texts = [t for _, t in sets["clean"]]
            reference = Reference(args.swallow_repo, clean_texts, Path(tmp))
            docs = sets["debian"] + sets["long"] + sets["clean"] + sets["noisy"]
            part_b = {"agreement": agreement(reference, docs),
                      "timing": time_both(reference, sets["debian"], 2 if args.quick else 3)}
        print_agreement(part_b)
    ja_web = presets["ja_web"]
    same = bool(part_b) and part_b["agreement"]["per_document"] >= 0.99
    ratio = part_b["timing"]["ratio"] if part_b else {"median": None, "min": None, "max": None}
    summary = {"benchmark": "corpus_presets",
               "peer": "swallow-corpus (released annotator)" if part_b else "none (no --swallow-repo)",
               "same_answers": same, "ratio_median": ratio["median"], "ratio_min": ratio["min"],
               "ratio_max": ratio["max"],
               "agreement_per_document": part_b["agreement"]["per_document"] if part_b else None,
               "ja_web": {"long_kept": ja_web["long_kept"], "noisy_recall": ja_web["noisy_recall"],
                          "debian_kept_docs": ja_web["debian"]["kept_docs"] / ja_web["debian"]["docs"]},
               "inputs": {name: {"docs": len(docs), "chars": sum(len(t) for _, t in docs)}
                          for name, docs in sets.items()} | {"quick": args.quick}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**summary, "presets": presets, "swallow_reference": part_b,
                                    "machine": machine()}, ensure_ascii=False, indent=1), "utf-8")
    print(json.dumps(summary, ensure_ascii=False))
    ok = ja_web["long_kept"] >= 0.95 and ja_web["noisy_recall"] >= 0.95
    return 0 if ok and (same or not part_b) else 1


if __name__ == "__main__":
    sys.exit(main())
