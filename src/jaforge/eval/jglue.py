"""Loaders for the JGLUE task files, in the layouts of the official release.

    from jaforge.eval.jglue import load_jnli, sample_path
    pairs = load_jnli("JGLUE/datasets/jnli-v1.1/valid-v1.1.json")   # the real file
    pairs = load_jnli(sample_path("jnli", "valid"))                  # jaforge's own sample

JNLI, MARC-ja, JCommonsenseQA and JSTS are JSON lines (one JSON array of objects is read too);
JSQuAD is one SQuAD-v1.1 JSON document, flattened here to one example per question. Every
record is checked: a missing field, a value of the wrong type, a label outside the task's label
set or an answer span that does not point at its answer raises `DataError` naming the file, the
line (for JSQuAD the question id) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jaforge.data import data_dir
from jaforge.io.records import DataError, choice, field, parse_json, read_records
from jaforge.registry import did_you_mean

JNLI_LABELS = ("entailment", "contradiction", "neutral")
MARC_JA_LABELS = ("positive", "negative")
JCOMMONSENSEQA_CHOICES = 5
JSTS_RANGE = (0.0, 5.0)


@dataclass
class JNLIExample:
    pair_id: str
    sentence1: str  # premise
    sentence2: str  # hypothesis
    label: str      # one of JNLI_LABELS


@dataclass
class MarcJaExample:
    review_id: str
    sentence: str
    label: str  # one of MARC_JA_LABELS


@dataclass
class JCommonsenseQAExample:
    q_id: int
    question: str
    choices: list[str]  # five choices, choice0 … choice4
    label: int          # index of the right choice


@dataclass
class JSTSExample:
    pair_id: str
    sentence1: str
    sentence2: str
    label: float  # similarity, 0 (unrelated) … 5 (same meaning)


@dataclass
class JSQuADExample:
    id: str
    title: str
    context: str  # "title [SEP] paragraph", as in the release
    question: str
    answers: list[tuple[str, int]]  # (text, answer_start into context)


def _text_id(record: dict, name: str, where: str) -> str:
    return str(field(record, name, (str, int), where))


def load_jnli(path: str | Path) -> list[JNLIExample]:
    """Premise/hypothesis pairs (sentence_pair_id, sentence1, sentence2, label)."""
    return [JNLIExample(_text_id(r, "sentence_pair_id", where), field(r, "sentence1", str, where),
                        field(r, "sentence2", str, where), choice(r, "label", JNLI_LABELS, where))
            for where, r in read_records(path)]


def load_marc_ja(path: str | Path) -> list[MarcJaExample]:
    """Product reviews with a positive/negative label (review_id, sentence, label)."""
    return [MarcJaExample(_text_id(r, "review_id", where), field(r, "sentence", str, where),
                          choice(r, "label", MARC_JA_LABELS, where))
            for where, r in read_records(path)]


def load_jcommonsenseqa(path: str | Path) -> list[JCommonsenseQAExample]:
    """Five-way multiple-choice questions (q_id, question, choice0 … choice4, label 0–4)."""
    examples = []
    for where, r in read_records(path):
        choices = [field(r, f"choice{i}", str, where) for i in range(JCOMMONSENSEQA_CHOICES)]
        examples.append(JCommonsenseQAExample(
            field(r, "q_id", int, where), field(r, "question", str, where), choices,
            choice(r, "label", range(JCOMMONSENSEQA_CHOICES), where)))
    return examples


def load_jsts(path: str | Path) -> list[JSTSExample]:
    """Sentence pairs with a similarity score (sentence_pair_id, sentence1, sentence2, label 0–5)."""
    examples = []
    for where, r in read_records(path):
        label = float(field(r, "label", (int, float), where))
        if not JSTS_RANGE[0] <= label <= JSTS_RANGE[1]:
            raise DataError(f"{where}: field 'label': {label} is outside {JSTS_RANGE[0]}–{JSTS_RANGE[1]}")
        examples.append(JSTSExample(_text_id(r, "sentence_pair_id", where), field(r, "sentence1", str, where),
                                    field(r, "sentence2", str, where), label))
    return examples


def load_jsquad(path: str | Path, check_spans: bool = True) -> list[JSQuADExample]:
    """Extractive QA, one example per question; `check_spans` verifies every answer_start."""
    path = Path(path)
    document = parse_json(path.read_bytes(), path)
    examples = []
    for a, article in enumerate(field(document, "data", list, str(path))):
        where = f"{path}: data[{a}]"
        title = field(article, "title", str, where)
        for p, paragraph in enumerate(field(article, "paragraphs", list, where)):
            context = field(paragraph, "context", str, f"{where}.paragraphs[{p}]")
            for q, qa in enumerate(field(paragraph, "qas", list, f"{where}.paragraphs[{p}]")):
                qa_where = f"{where}.paragraphs[{p}].qas[{q}]"
                qid = _text_id(qa, "id", qa_where)
                examples.append(_jsquad_example(qa, qid, title, context, f"{path}: question {qid}",
                                                check_spans))
    return examples


def _jsquad_example(qa: dict, qid: str, title: str, context: str, where: str,
                    check_spans: bool) -> JSQuADExample:
    question = field(qa, "question", str, where)
    answers = []
    for k, answer in enumerate(field(qa, "answers", list, where)):
        text = field(answer, "text", str, f"{where}: answers[{k}]")
        start = field(answer, "answer_start", int, f"{where}: answers[{k}]")
        found = context[start:start + len(text)] if start >= 0 else ""
        if check_spans and found != text:
            raise DataError(f"{where}: field 'answers[{k}].answer_start': {start} points at "
                            f"{found!r}, not at the answer {text!r}")
        answers.append((text, start))
    if not answers and not qa.get("is_impossible", False):
        raise DataError(f"{where}: field 'answers' is empty but the question is not marked "
                        f"is_impossible")
    return JSQuADExample(qid, title, context, question, answers)


LOADERS = {"jnli": load_jnli, "marc_ja": load_marc_ja, "jcommonsenseqa": load_jcommonsenseqa,
           "jsquad": load_jsquad, "jsts": load_jsts}


def sample_path(task: str, split: str) -> Path:
    """jaforge's own sample of a JGLUE task, in the official layout: data/eval/<task>/<split>-v*.json."""
    if task not in LOADERS:
        raise KeyError(f"unknown JGLUE task '{task}'{did_you_mean(task, list(LOADERS))} "
                       f"known: {', '.join(LOADERS)}")
    matches = sorted((data_dir() / "eval" / task).glob(f"{split}-v*.json"))
    if not matches:
        raise FileNotFoundError(f"no {split} sample for {task} under {data_dir() / 'eval' / task}")
    return matches[-1]


def load_sample(task: str, split: str) -> list:
    """The embedded sample of `task` read with its loader."""
    path = sample_path(task, split)
    return LOADERS[task](path)
