"""The counts table of data/README.md, computed from the embedded files (a test keeps it current).

    python -m jaforge.data_card        # print the table; paste it between the counts markers

Every embedded file must match one entry of `CARD` (a test checks that too), so a new file is
described on the card before it lands.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import yaml

from jaforge.data import data_dir
from jaforge.io.records import DataError, read_records


@dataclass
class CardRow:
    """One line of the counts table in data/README.md."""
    file: str
    records: int
    unit: str
    chars: int
    shortest: int
    longest: int
    breakdown: str


def _jsonl_counter(text: Callable[[dict], str], group: Callable[[dict], Iterable[str]] | None):
    def count(paths: list[Path]) -> tuple[int, list[int], Counter]:
        lengths, groups = [], Counter()
        for path in paths:
            for _, record in read_records(path):
                lengths.append(len(text(record)))
                groups.update(group(record) if group else ())
        return len(lengths), lengths, groups
    return count


def _count_jsquad(paths: list[Path]) -> tuple[int, list[int], Counter]:
    questions, contexts, groups = 0, [], Counter()
    for path in paths:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        groups["articles"] += len(articles)
        for article in articles:
            for paragraph in article["paragraphs"]:
                groups["paragraphs"] += 1
                contexts.append(len(paragraph["context"]))
                questions += len(paragraph["qas"])
    return questions, contexts, groups


def _count_files(paths: list[Path]) -> tuple[int, list[int], Counter]:
    return len(paths), [len(p.read_text(encoding="utf-8")) for p in paths], Counter()


def _count_lines(paths: list[Path]) -> tuple[int, list[int], Counter]:
    lines = [line for p in paths for line in p.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    return len(lines), [len(line) for line in lines], Counter()


def _count_catalog(paths: list[Path]) -> tuple[int, list[int], Counter]:
    models = (yaml.safe_load(paths[0].read_text(encoding="utf-8")) or {}).get("models", [])
    return len(models), [], Counter(m.get("family", "other") for m in models)


def _count_warc(paths: list[Path]) -> tuple[int, list[int], Counter]:
    with gzip.open(paths[0], "rb") as handle:
        return handle.read().count(b"WARC-Type: response"), [], Counter()


def _user_turns(record: dict) -> list[str]:
    turns = sum(m.get("role") == "user" for m in record["messages"])
    system = any(m.get("role") == "system" for m in record["messages"])
    return [f"{turns} user turns"] + (["with system prompt"] if system else [])


def _texts(*names: str) -> Callable[[dict], str]:
    return lambda r: "".join(str(r.get(n, "")) for n in names)


def _by(name: str) -> Callable[[dict], list[str]]:
    return lambda r: [str(r[name])]


# (glob under data/, unit, counter): every embedded file matches one entry; the files of an
# entry are counted together, and those in PER_FILE also one row per file
PER_FILE = {"ja/clean/*.jsonl", "ja/long/*.jsonl", "eval/jnli/*-v1.1.json", "eval/marc_ja/*-v1.0.json",
            "eval/jcommonsenseqa/*-v1.1.json", "eval/jsquad/*-v1.1.json", "eval/jsts/*-v1.1.json",
            "eval/jaqket_v2/*_jaqket.json", "eval/xlsum/japanese_*.jsonl"}
CARD = [
    ("ja/clean/*.jsonl", "documents", _jsonl_counter(_texts("text"), _by("genre"))),
    ("ja/long/*.jsonl", "documents", _jsonl_counter(_texts("text"), lambda r: r["features"])),
    ("en/clean.jsonl", "documents", _jsonl_counter(_texts("text"), _by("genre"))),
    ("ja/noisy/noisy.jsonl", "documents", _jsonl_counter(_texts("text"), _by("label"))),
    ("ja/noisy/pii.jsonl", "documents", _jsonl_counter(
        _texts("text"), lambda r: [item["type"] for item in r["pii"]])),
    ("ja/noisy/pii_negatives.jsonl", "documents", _jsonl_counter(_texts("text"), _by("kind"))),
    ("ja/noisy/ng_words.txt", "words", _count_lines),
    ("ja/noisy/ad_words.txt", "words", _count_lines),
    ("ja/dups/near_duplicates.jsonl", "documents", _jsonl_counter(
        _texts("text"), lambda r: [e.split()[0] for e in r.get("edit", "").split("; ") if e])),
    ("ja/dups/exact_duplicates.jsonl", "documents", _jsonl_counter(_texts("text"), None)),
    ("html/page-*.html", "pages", _count_files),
    ("html/index.tsv", "rows", lambda paths: (_count_lines(paths)[0] - 1, [], Counter())),
    ("warc/sample.warc.gz", "responses", _count_warc),
    ("eval/jnli/*-v1.1.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), _by("label"))),
    ("eval/marc_ja/*-v1.0.json", "reviews", _jsonl_counter(_texts("sentence"), _by("label"))),
    ("eval/jcommonsenseqa/*-v1.1.json", "questions", _jsonl_counter(
        _texts("question"), lambda r: [f"label {r['label']}"])),
    ("eval/jsquad/*-v1.1.json", "questions", _count_jsquad),
    ("eval/jsts/*-v1.1.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), lambda r: [f"score {int(r['label'] + 0.5)}"])),
    ("eval/jaqket_v2/*_jaqket.json", "questions", _jsonl_counter(_texts("question"), lambda r: [
        "answer in first 5 passages" if any(c["has_answer"] for c in r["ctxs"][:5]) else "no answer in passages"])),
    ("eval/mgsm/train.jsonl", "problems", _jsonl_counter(_texts("question", "answer"), None)),
    ("eval/mgsm/mgsm_ja.tsv", "problems", _count_lines),
    ("eval/xlsum/japanese_*.jsonl", "articles", _jsonl_counter(_texts("text"), None)),
    ("eval/xwinograd/xwinograd-ja.json", "pairs", _jsonl_counter(
        _texts("sentence1", "sentence2"), lambda r: [f"answer {r['answer']}"])),
    ("sft/dolly_ja.jsonl", "examples", _jsonl_counter(
        _texts("instruction", "input", "output"), _by("category"))),
    ("sft/chat.jsonl", "conversations", _jsonl_counter(
        lambda r: "".join(m.get("content", "") for m in r["messages"]), _user_turns)),
    ("sft/preference.jsonl", "pairs", _jsonl_counter(_texts("prompt", "chosen", "rejected"), None)),
    ("sft/safety_ja.jsonl", "examples", _jsonl_counter(
        lambda r: "".join(m.get("content", "") for m in r["messages"]),
        lambda r: [r["kind"], f"{r['kind']} {r['split']}"])),
    ("parallel/en_ja.jsonl", "pairs", _jsonl_counter(_texts("en", "ja"), lambda r: [r["split"]])),
    ("catalog/models.yaml", "models", _count_catalog),
]


def _card_row(name: str, paths: list[Path], unit: str, count: Callable) -> CardRow:
    records, lengths, groups = count(paths)
    breakdown = ", ".join(f"{group} {n}" for group, n in sorted(groups.items()))
    return CardRow(name, records, unit, sum(lengths), min(lengths, default=0),
                   max(lengths, default=0), breakdown)


def card_rows(root: Path | None = None) -> list[CardRow]:
    """Counts for every entry of `CARD` that has files."""
    root = root or data_dir()
    rows = []
    for pattern, unit, count in CARD:
        paths = sorted(root.glob(pattern))
        if pattern in PER_FILE:
            rows += [_card_row(p.relative_to(root).as_posix(), [p], unit, count) for p in paths]
        if paths:
            rows.append(_card_row(pattern, paths, unit, count))
    return rows


def card_table(rows: list[CardRow]) -> str:
    """The rows as a Markdown table."""
    lines = ["| file | count | characters | shortest–longest | breakdown |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        span = f"{r.shortest:,}–{r.longest:,}" if r.chars else ""
        chars = f"{r.chars:,}" if r.chars else ""
        lines.append(f"| `{r.file}` | {r.records:,} {r.unit} | {chars} | {span} | {r.breakdown} |")
    return "\n".join(lines)


def main() -> int:
    try:
        print(card_table(card_rows()))
    except (FileNotFoundError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
