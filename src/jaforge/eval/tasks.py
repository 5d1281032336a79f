"""Eval tasks and groups by name: where their files are, how records become prompt docs, how
many shots the leaderboard uses, and how generations are scored.

    from jaforge.eval.tasks import TASKS, expand, load_docs
    task = TASKS.get("mgsm")
    docs = load_docs(task, task.eval_split)                  # embedded sample
    docs = load_docs(task, "test", data_dir="~/mgsm-files")  # the published files
    expand(["japanese_leaderboard", "jsts"])                 # ['jaqket_v2', …, 'xwinograd', 'jsts']

A task's files are found by glob patterns under `data_dir` (the published layouts, e.g. JGLUE's
`jnli-v1.1/valid-v1.1.json`) or under jaforge's `data/eval/` samples, which follow the same names.
The `japanese_leaderboard` group is lm-eval's: eight tasks and the unweighted mean of their
headline metrics.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from jaforge import data
from jaforge.errors import ConfigError, InputError, UnknownNameError
from jaforge.eval import jglue, leaderboard_data, safety, translation
from jaforge.eval.metrics import exact_match, jsquad_scores, mgsm_correct
from jaforge.eval.rouge_ja import rouge2_leaderboard, rouge2_scores
from jaforge.eval.templates import JSTS_CHOICES
from jaforge.registry import Registry, did_you_mean


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    """'choice' (log-likelihood of each choice), 'generation' or 'safety'."""
    load: Callable[[Path, str], list]
    """(file, split) → records in the file's layout."""
    to_doc: Callable[[object, int], Optional[dict]]
    """(record, index) → template doc (labels as choice indices); None drops it (see `dropped`)."""
    files: dict[str, tuple[str, ...]]
    """split → glob patterns, under `data_dir` or jaforge's data/eval/."""
    eval_split: str
    shots: int = 0
    """The japanese_leaderboard's number of shots (0: no few-shot split)."""
    headline: str = "acc"
    """The metric the group averages."""
    label_names: tuple[str, ...] = ()
    """Class names of a fixed label set (for stratified shots)."""
    score: Optional[Callable[[str, dict], dict[str, float]]] = None
    """Generation tasks: (output, doc) → this example's scores (averaged over the examples)."""
    aggregate: Optional[Callable[[list[dict]], dict[str, float]]] = None
    """Generation tasks: samples (prediction, gold) → task metrics beyond the averages."""
    rating_values: tuple[float, ...] = ()
    """Choice tasks whose choices are ratings: the prediction is the expected rating, scored by
    correlation with the doc's `score`."""
    dropped: str = ""
    """Why `to_doc` drops a record (reported with the count)."""
    embedded_root: str = "eval"
    """Folder of data/ that holds the samples."""

    @property
    def fewshot_split(self) -> Optional[str]:
        return "train" if self.shots > 0 else None


TASKS: Registry[Task] = Registry("eval task")
GROUPS: Registry[tuple[str, ...]] = Registry("eval task group")


def _jglue(name: str) -> dict[str, tuple[str, ...]]:
    return {"train": (f"{name}*/train-v*.json",), "validation": (f"{name}*/valid-v*.json",)}


def _loader(read: Callable[[Path], list]) -> Callable[[Path, str], list]:
    return lambda path, split: read(path)


def _first_answer_match(output: str, doc: dict) -> dict[str, float]:
    # lm-eval's `whitespaces` filter strips the output; the reference is the first answer
    return {"exact_match": exact_match(output.strip(), doc["answers"][0])}


def _jsquad_scores(output: str, doc: dict) -> dict[str, float]:
    return {**_first_answer_match(output, doc), "f1": jsquad_scores(output.strip(), doc["answers"])["f1"]}


def _register(task: Task) -> None:
    TASKS.register(task.name)(task)


_register(Task("jnli", "choice", _loader(jglue.load_jnli), lambda r, i: {
    "id": r.pair_id, "sentence1": r.sentence1, "sentence2": r.sentence2,
    "label": jglue.JNLI_LABELS.index(r.label)}, _jglue("jnli"), "validation", 3,
    label_names=jglue.JNLI_LABELS))
_register(Task("marc_ja", "choice", _loader(jglue.load_marc_ja), lambda r, i: {
    "id": r.review_id, "sentence": r.sentence, "label": jglue.MARC_JA_LABELS.index(r.label)},
    _jglue("marc_ja"), "validation", 3, label_names=jglue.MARC_JA_LABELS))
_register(Task("jcommonsenseqa", "choice", _loader(jglue.load_jcommonsenseqa), lambda r, i: {
    "id": r.q_id, "question": r.question, "choices": list(r.choices), "label": r.label},
    _jglue("jcommonsenseqa"), "validation", 3,
    label_names=tuple(str(i) for i in range(jglue.JCOMMONSENSEQA_CHOICES))))
_register(Task("jsts", "choice", _loader(jglue.load_jsts), lambda r, i: {
    "id": r.pair_id, "sentence1": r.sentence1, "sentence2": r.sentence2, "score": r.label,
    "label": int(r.label + 0.5)}, _jglue("jsts"), "validation", 3, headline="pearson",
    label_names=tuple(JSTS_CHOICES), rating_values=tuple(float(c) for c in JSTS_CHOICES)))
_register(Task("xwinograd", "choice", _loader(leaderboard_data.load_xwinograd), lambda r, i: {
    "id": i, "sentence1": r.sentence1, "sentence2": r.sentence2, "label": r.answer - 1},
    {"test": ("xwinograd*/xwinograd-ja.json", "xwinograd*/test/xwinograd-ja.json")}, "test"))
_register(Task("jsquad", "generation", _loader(jglue.load_jsquad), lambda r, i: {
    "id": r.id, "title": r.title, "context": r.context, "question": r.question,
    "answers": [text for text, _ in r.answers]} if r.answers else None, _jglue("jsquad"),
    "validation", 2, headline="exact_match", score=_jsquad_scores, dropped="no answer (is_impossible)"))
_register(Task("jaqket_v2", "generation", _loader(leaderboard_data.load_jaqket_v2), lambda r, i: {
    "id": r.qid, "question": r.question, "answers": list(r.answers), "contexts": r.contexts}
    if r.answerable else None,
    {"train": ("jaqket*/train_jaqket*.json",), "validation": ("jaqket*/dev_jaqket*.json",)},
    "validation", 1, headline="exact_match", score=_first_answer_match,
    dropped=f"no answer among the first {leaderboard_data.JAQKET_CONTEXTS} passages (as kumapo/JAQKET v2.0)"))
_register(Task("mgsm", "generation", _loader(leaderboard_data.load_mgsm), lambda r, i: {
    "id": i, "question": r.question, "answer_number": r.answer_number,
    "answers": [(r.answer or "").replace("ステップごとの答え：", "")]},
    {"train": ("mgsm*/train*.json*",), "test": ("mgsm*/mgsm_ja.tsv", "mgsm*/test*.json*")}, "test", 5,
    score=lambda out, doc: {"acc": float(mgsm_correct(out, doc["answer_number"]))}))
_register(Task("xlsum", "generation", _loader(leaderboard_data.load_xlsum), lambda r, i: {
    "id": r.id, "title": r.title, "text": r.text, "answers": [r.summary]},
    {"train": ("xlsum*/*_train.jsonl",), "validation": ("xlsum*/*_val.jsonl",),
     "test": ("xlsum*/*_test.jsonl",)}, "test", 1, headline="rouge2",
    score=lambda out, doc: {"rouge2_mean": rouge2_scores([doc["answers"][0]], [out.strip()])[0].fmeasure},
    aggregate=lambda samples: {"rouge2": rouge2_leaderboard([s["gold"] for s in samples],
                                                            [s["prediction"].strip() for s in samples])}))
_register(Task("safety_ja", "safety", safety.load_safety, safety.safety_doc,
               {"train": ("safety*/safety_ja.jsonl", "safety_ja.jsonl"),
                "test": ("safety*/safety_ja.jsonl", "safety_ja.jsonl")},
               "test", headline="refusal_rate", embedded_root="sft"))

for _name, _direction in translation.DIRECTIONS.items():
    _register(Task(_name, "generation", translation.load_pairs, translation.to_doc(_direction),
                   {"train": translation.FILES, "test": translation.FILES}, "test", headline="chrf",
                   score=translation.sentence_chrf, aggregate=translation.corpus_chrf,
                   embedded_root="parallel"))

GROUPS.register("japanese_leaderboard")(("jaqket_v2", "jcommonsenseqa", "jnli", "jsquad", "marc_ja",
                                         "mgsm", "xlsum", "xwinograd"))


def expand(names: Sequence[str]) -> list[str]:
    """Task names with groups replaced by their tasks, in order, each once; an unknown name fails
    listing the known tasks and groups."""
    tasks: list[str] = []
    for name in names:
        if name in GROUPS:
            tasks += GROUPS.get(name)
        elif name in TASKS:
            tasks.append(name)
        else:
            known = TASKS.names() + GROUPS.names()
            raise UnknownNameError(f"unknown eval task '{name}'{did_you_mean(name, known)} known tasks: "
                                   f"{', '.join(TASKS.names())}; groups: {', '.join(GROUPS.names())}")
    return list(dict.fromkeys(tasks))


def groups_of(names: Sequence[str]) -> list[str]:
    return [name for name in names if name in GROUPS]


@dataclass
class TaskData:
    docs: list[dict]
    path: Path
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def data_file(task: Task, split: str, data_dir: Optional[str] = None) -> Path:
    """The task's file of `split` under `data_dir`, or the embedded sample (latest version)."""
    if split not in task.files:
        raise ConfigError(f"eval config key 'split': task {task.name} has no {split} split "
                          f"(it has {', '.join(task.files)})")
    root = Path(data_dir).expanduser() if data_dir is not None else data.data_dir() / task.embedded_root
    for pattern in task.files[split]:
        matches = sorted(root.glob(pattern))
        if matches:
            return matches[-1]
    wanted = " or ".join(task.files[split])
    if data_dir is None:
        raise InputError(root, f"jaforge's {task.name} sample ({wanted}) is missing")
    raise InputError(root, f"no {split} file for {task.name} (eval config key 'data_dir'; expected {wanted})")


def load_task_data(task: Task, split: str, data_dir: Optional[str] = None) -> TaskData:
    """The task's examples of `split` as template docs, with the records dropped and why."""
    path = data_file(task, split, data_dir)
    with data_errors(path):
        records = task.load(path, split)
    docs = [task.to_doc(r, i) for i, r in enumerate(records)]
    kept = [d for d in docs if d is not None]
    dropped = len(docs) - len(kept)
    return TaskData(kept, path, dropped, {task.dropped: dropped} if dropped else {})


def load_docs(task: Task, split: str, data_dir: Optional[str] = None) -> list[dict]:
    return load_task_data(task, split, data_dir).docs


@contextlib.contextmanager
def data_errors(path: Path) -> Iterator[None]:
    """Turn a loader's `DataError` (or a read error) into an `InputError` naming file and line."""
    try:
        yield
    except (data.DataError, OSError, UnicodeError) as err:
        message = str(err)
        found = re.match(rf"^{re.escape(str(path))}(?::(\d+))?:\s*(.*)$", message, re.S)
        if found:
            line = int(found.group(1)) if found.group(1) else None
            raise InputError(path, found.group(2), line=line) from None
        raise InputError(path, message) from None
