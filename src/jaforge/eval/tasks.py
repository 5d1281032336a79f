"""Eval tasks by name: their data (official JGLUE files or the embedded samples), their few-shot
prompts and the metrics they report.

    from jaforge.eval.tasks import TASKS, load_docs, build_prompts
    task = TASKS.get("jnli")
    docs = load_docs(task, "valid"); shots = load_docs(task, "train")
    prompts = build_prompts(task, docs, shots, template="leaderboard", k=3, seed=1234)

Few-shot sampling copies lm-evaluation-harness 0.4: one `random.Random(seed)` per task, and for
each evaluated example in order `rnd.sample(train, k)` (an example equal to the evaluated one
is dropped). `stratified=True` draws the shots evenly across labels instead (jp-stable's
balanced tasks), still from the same seeded generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from jaforge.eval import jglue
from jaforge.eval.templates import PromptTemplate, get_template
from jaforge.registry import Registry

CHOICE_METRICS = ("acc", "acc_norm", "balanced_acc", "macro_f1", "mcc")
GENERATION_METRICS = ("exact_match", "f1")


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    """'choice' (log-likelihood of each choice) or 'generation'."""
    to_docs: Callable[[list], list[dict]]
    """Loader records → template docs (labels as choice indices)."""
    label_names: tuple[str, ...] = ()
    """Class names of a fixed label set (for per-class metrics and stratified shots)."""

    @property
    def metrics(self) -> tuple[str, ...]:
        return CHOICE_METRICS if self.kind == "choice" else GENERATION_METRICS


TASKS: Registry[Task] = Registry("eval task")

TASKS.register("jnli")(Task("jnli", "choice", lambda records: [
    {"id": r.pair_id, "sentence1": r.sentence1, "sentence2": r.sentence2,
     "label": jglue.JNLI_LABELS.index(r.label)} for r in records], jglue.JNLI_LABELS))
TASKS.register("marc_ja")(Task("marc_ja", "choice", lambda records: [
    {"id": r.review_id, "sentence": r.sentence, "label": jglue.MARC_JA_LABELS.index(r.label)}
    for r in records], jglue.MARC_JA_LABELS))
TASKS.register("jcommonsenseqa")(Task("jcommonsenseqa", "choice", lambda records: [
    {"id": r.q_id, "question": r.question, "choices": list(r.choices), "label": r.label}
    for r in records], tuple(str(i) for i in range(jglue.JCOMMONSENSEQA_CHOICES))))
TASKS.register("jsquad")(Task("jsquad", "generation", lambda records: [
    {"id": r.id, "title": r.title, "context": r.context, "question": r.question,
     "answers": [text for text, _ in r.answers]} for r in records if r.answers]))


def data_file(task: str, split: str, data_dir: Optional[str]) -> Path:
    """The task's file: <data_dir>/<task>-v*/<split>-v*.json (JGLUE's layout) or the sample."""
    if data_dir is None:
        return jglue.sample_path(task, split)
    matches = sorted(Path(data_dir).glob(f"{task}-v*/{split}-v*.json"))
    if not matches:
        raise FileNotFoundError(f"no {split} file for {task} under {data_dir} "
                                f"(expected {task}-v*/{split}-v*.json, as in JGLUE/datasets)")
    return matches[-1]


def load_docs(task: Task, split: str, data_dir: Optional[str] = None) -> list[dict]:
    """The task's examples of `split` as template docs."""
    return task.to_docs(jglue.LOADERS[task.name](data_file(task.name, split, data_dir)))


@dataclass
class Prompt:
    doc: dict
    context: str
    """Description + shots + the example's text."""
    continuations: list[str]
    """Choice tasks: target_delimiter + choice, one per choice; generation: empty."""
    choices: list[str]
    gold: object
    """Choice index, or the list of gold answers of a generation task."""


def sample_shots(pool: list[dict], k: int, rnd: random.Random, doc: dict,
                 stratified: bool) -> list[dict]:
    """k shots for `doc` (lm-eval's draw, or one label after another when stratified)."""
    if k <= 0:
        return []
    if stratified:
        return _stratified_shots(pool, k, rnd, doc)
    return [shot for shot in rnd.sample(pool, k) if shot != doc][:k]


def _stratified_shots(pool: list[dict], k: int, rnd: random.Random, doc: dict) -> list[dict]:
    by_label: dict[object, list[dict]] = {}
    for shot in pool:
        if shot != doc:
            by_label.setdefault(shot["label"], []).append(shot)
    order = rnd.sample(sorted(by_label), len(by_label))
    drawn = {label: rnd.sample(by_label[label], len(by_label[label])) for label in order}
    shots, turn = [], 0
    while len(shots) < k and any(drawn.values()):
        label = order[turn % len(order)]
        if drawn[label]:
            shots.append(drawn[label].pop())
        turn += 1
    return shots


def fewshot_context(template: PromptTemplate, doc: dict, shots: list[dict]) -> str:
    """description + (text + target_delimiter + target + fewshot_delimiter) per shot + text."""
    parts = [template.description]
    for shot in shots:
        parts += [template.text(shot), template.target_delimiter, template.target(shot),
                  template.fewshot_delimiter]
    parts.append(template.text(doc))
    return "".join(parts)


def build_prompts(task: Task, docs: list[dict], pool: list[dict], template: str, k: int,
                  seed: int = 1234, stratified: bool = False) -> list[Prompt]:
    """The prompt of every doc, shots drawn from `pool` by one generator seeded with `seed`."""
    tpl = get_template(template, task.name)
    if k > len(pool):
        raise ValueError(f"{task.name}: {k} shots asked but the train split has {len(pool)} examples")
    rnd = random.Random(seed)
    prompts = []
    for doc in docs:
        context = fewshot_context(tpl, doc, sample_shots(pool, k, rnd, doc, stratified))
        if task.kind == "choice":
            choices = tpl.choices(doc)
            prompts.append(Prompt(doc, context, [tpl.target_delimiter + c for c in choices],
                                  choices, doc["label"]))
        else:
            prompts.append(Prompt(doc, context, [], [], list(doc["answers"])))
    return prompts
