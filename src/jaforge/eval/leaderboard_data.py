"""Loaders for the japanese_leaderboard datasets outside JGLUE, in their published file formats.

    from jaforge.eval.leaderboard_data import load_jaqket_v2, load_mgsm, load_xlsum, load_xwinograd
    questions = load_jaqket_v2("JAQKET/dev_jaqket_59.350.json")   # AIO2 DPR output (kumapo/JAQKET v2.0)
    problems = load_mgsm("url-nlp/mgsm/mgsm_ja.tsv")              # question<TAB>answer_number
    problems = load_mgsm("mgsm_ja_train.jsonl")                    # juletxara/mgsm rows (exemplars)
    articles = load_xlsum("XLSum/japanese_test.jsonl")             # id, url, title, summary, text
    pairs = load_xwinograd("xwinograd-ja/test/xwinograd-ja.json")  # sentence1, sentence2, answer

- JAQKET v2: the JSON the kumapo/JAQKET v2.0 loader reads (one array, JSON lines too): `qid`,
  `question`, `answers` (strings), `ctxs` (retrieved passages: `id`, `title`, `text`, `score`,
  `has_answer`). Like that loader, only the first five passages are kept.
- MGSM: the benchmark's TSV (no header) or rows with `question`, `answer` (the step-by-step
  answer, null in the test split), `answer_number`, `equation_solution`.
- XL-Sum: the release's JSON lines. XWinograd-ja: JSON lines with the two filled-in sentences
  and `answer` "1" or "2".

A bad record raises `jaforge.data.DataError` naming the file, the line (or record) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from jaforge.io.records import DataError, choice, field, read_records

JAQKET_CONTEXTS = 5
"""Passages kept per question (kumapo/JAQKET v2.0's num_contexts)."""


@dataclass
class JaqketV2Example:
    qid: str
    question: str
    answers: list[str]
    contexts: list[dict]
    """The first JAQKET_CONTEXTS passages: id, title, text, score, has_answer."""

    @property
    def answerable(self) -> bool:
        """Whether a kept passage holds the answer (kumapo's loader drops the others)."""
        return any(c["has_answer"] for c in self.contexts)


@dataclass
class MgsmExample:
    question: str
    answer_number: int
    answer: Optional[str] = None
    """The step-by-step answer (exemplars only)."""
    equation_solution: Optional[str] = None


@dataclass
class XlsumExample:
    id: str
    url: str
    title: str
    summary: str
    text: str


@dataclass
class XwinogradExample:
    sentence1: str
    sentence2: str
    answer: int  # 1 or 2: the sentence with the right referent


def load_jaqket_v2(path: str | Path) -> list[JaqketV2Example]:
    """Quiz questions with retrieved Wikipedia-style passages."""
    examples = []
    for where, r in read_records(path):
        answers = field(r, "answers", list, where)
        if not answers or not all(isinstance(a, str) for a in answers):
            raise DataError(f"{where}: field 'answers' should be a non-empty list of strings, got {answers!r}")
        contexts = [_passage(c, f"{where}: ctxs[{i}]")
                    for i, c in enumerate(field(r, "ctxs", list, where)[:JAQKET_CONTEXTS])]
        examples.append(JaqketV2Example(str(field(r, "qid", (str, int), where)),
                                        field(r, "question", str, where), answers, contexts))
    return examples


def _passage(record: dict, where: str) -> dict:
    return {"id": str(field(record, "id", (str, int), where)), "title": field(record, "title", str, where),
            "text": field(record, "text", str, where),
            "score": float(field(record, "score", (int, float, str), where)),
            "has_answer": field(record, "has_answer", bool, where)}


def load_mgsm(path: str | Path) -> list[MgsmExample]:
    """Math word problems: the TSV of the benchmark or JSON rows of the Hugging Face export."""
    path = Path(path)
    if path.suffix == ".tsv":
        return list(_mgsm_tsv(path))
    examples = []
    for where, r in read_records(path):
        answer = r.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise DataError(f"{where}: field 'answer' should be str or null, got {answer!r}")
        examples.append(MgsmExample(field(r, "question", str, where),
                                    _answer_number(field(r, "answer_number", (int, str), where), where),
                                    answer, r.get("equation_solution")))
    return examples


def _mgsm_tsv(path: Path):
    with open(path, encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 2:
                raise DataError(f"{path}:{line_no}: expected 2 tab-separated cells (question, "
                                f"answer_number), got {len(cells)}")
            yield MgsmExample(cells[0], _answer_number(cells[1], f"{path}:{line_no}"))


def _answer_number(value, where: str) -> int:
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise DataError(f"{where}: field 'answer_number': {value!r} is not an integer")
    return int(number)


def load_xlsum(path: str | Path) -> list[XlsumExample]:
    """News articles with their one- or two-sentence summaries."""
    return [XlsumExample(str(field(r, "id", (str, int), where)), field(r, "url", str, where),
                         field(r, "title", str, where), field(r, "summary", str, where),
                         field(r, "text", str, where))
            for where, r in read_records(path)]


def load_xwinograd(path: str | Path) -> list[XwinogradExample]:
    """Winograd schemas as two sentences, each with one candidate filled in."""
    examples = []
    for where, r in read_records(path):
        answer = choice(r, "answer", ["1", "2"] if isinstance(r.get("answer"), str) else [1, 2], where)
        examples.append(XwinogradExample(field(r, "sentence1", str, where),
                                         field(r, "sentence2", str, where), int(answer)))
    return examples
