"""Few-shot prompts: shots drawn the way lm-evaluation-harness 0.4 draws them, assembled the way
it assembles them.

    from jaforge.eval.prompts import build_prompts
    prompts = build_prompts(docs, shots_pool, get_template("leaderboard", "jnli"), k=3, seed=1234)

Few-shot sampling copies lm-eval 0.4: one `random.Random(seed)` per task, and for each evaluated
example in order `rnd.sample(pool, k)` — or, when the shots come from the evaluated split itself,
`rnd.sample(pool, k + 1)` less the evaluated example, cut to k.
`stratified=True` draws the shots evenly across labels instead (jp-stable's balanced tasks),
still from the same seeded generator. A prompt is description, then per shot
text + target_delimiter + target + fewshot_delimiter, then the example's text; each choice is
scored as the continuation target_delimiter + choice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from jaforge.eval.templates import PromptTemplate


@dataclass
class Prompt:
    doc: dict
    context: str
    """Description + shots + the example's text."""
    continuations: list[str]
    """Choice tasks: target_delimiter + choice, one per choice; generation: empty."""
    choices: list[str]
    """Choice tasks: the choice strings; generation: empty."""


def sample_shots(pool: list[dict], k: int, rnd: random.Random, doc: dict, stratified: bool,
                 same_split: bool = False) -> list[dict]:
    """k shots for `doc` (lm-eval's draw, or one label after another when stratified)."""
    if k <= 0:
        return []
    if stratified:
        return _stratified_shots(pool, k, rnd, doc)
    if not same_split:
        return rnd.sample(pool, k)
    return [shot for shot in rnd.sample(pool, min(k + 1, len(pool))) if shot != doc][:k]


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


def build_prompts(docs: list[dict], pool: list[dict], template: PromptTemplate, k: int,
                  seed: int = 1234, stratified: bool = False, same_split: bool = False) -> list[Prompt]:
    """The prompt of every doc, shots drawn from `pool` (the evaluated split itself when
    `same_split`) by one generator seeded with `seed`."""
    rnd = random.Random(seed)
    prompts = []
    for doc in docs:
        context = fewshot_context(template, doc, sample_shots(pool, k, rnd, doc, stratified, same_split))
        choices = template.choices(doc) if template.choices is not None else []
        prompts.append(Prompt(doc, context, [template.target_delimiter + c for c in choices], choices))
    return prompts
