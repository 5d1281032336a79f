"""CycleQD's tasks: each writes its training and held-out data as instruction records (the sft
stage's dolly_ja layout, prompts in the alpaca_ja template) and scores a model in [0, 1].

    write_task_data("jnli", data_dir, eval_examples=40)      # → jnli-train.jsonl, jnli-eval.jsonl
    score("jnli", backend, data_dir / "jnli-eval.jsonl")      # mean probability of the gold label

- jnli: JNLI-style inference; the premise and hypothesis as input, 含意/矛盾/中立 as answer;
  metric: the gold label's probability among the three (softmax of their log-likelihoods), a
  smooth accuracy: tiny models pick the same label for every pair, so accuracy would not move.
- jsquad: JSQuAD-style extractive QA on the sentence holding the answer (short enough for tiny
  models' context windows);
  metric: answer probability, exp(−mean NLL per answer token) (tiny models answer nothing exactly,
  so exact match would not tell them apart).
- instruct: instruction following on the held-out end of the dolly_ja sample; metric:
  1 / response perplexity.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Optional

from jaforge.eval import choice_logliks, response_perplexity
from jaforge.eval.jglue import load_jnli, load_jsquad, sample_path
from jaforge.io.atomic import write_text
from jaforge.registry import Registry
from jaforge.sft.data import load_dolly_ja
from jaforge.sft.data import sample_path as sft_sample_path
from jaforge.sft.mixture import FORMATS
from jaforge.sft.templates import TEMPLATES, TemplateContext

JNLI_ANSWERS = {"entailment": "含意", "contradiction": "矛盾", "neutral": "中立"}
JNLI_INSTRUCTION = "前提と仮説の関係を、含意・矛盾・中立のいずれかで答えてください。"
JSQUAD_INSTRUCTION = "文章を読んで、質問の答えを文章中から抜き出してください。"
INSTRUCT_TRAIN = 260  # dolly_ja: the first examples tune the expert, held-out ones come from the end
SENTENCE_END = re.compile(r"(?<=。)")


def _record(instruction: str, given: str, output: str, category: str, index: int) -> dict:
    return {"instruction": instruction, "input": given, "output": output, "category": category, "index": str(index)}


def _jglue_path(task: str, split: str, data_dir: Optional[str]) -> Path:
    if data_dir is None:
        return sample_path(task, split)
    return Path(data_dir) / f"{task}-v1.1" / f"{split}-v1.1.json"


def jnli_records(split: str, data_dir: Optional[str]) -> list[dict]:
    return [_record(JNLI_INSTRUCTION, f"前提：{e.sentence1}\n仮説：{e.sentence2}", JNLI_ANSWERS[e.label],
                    "classification", i) for i, e in enumerate(load_jnli(_jglue_path("jnli", split, data_dir)))]


def answer_passage(context: str, start: int) -> str:
    """The sentence holding the answer (the title before ' [SEP] ' dropped)."""
    offset = context.find(" [SEP] ")
    body_start = offset + len(" [SEP] ") if offset >= 0 else 0
    sentences, position = [], body_start
    for sentence in SENTENCE_END.split(context[body_start:]):
        sentences.append((position, sentence))
        position += len(sentence)
    found = max((i for i, (pos, _) in enumerate(sentences) if pos <= start), default=0)
    return sentences[found][1]


def jsquad_records(split: str, data_dir: Optional[str]) -> list[dict]:
    records = []
    for i, e in enumerate(load_jsquad(_jglue_path("jsquad", split, data_dir))):
        if not e.answers:
            continue
        text, start = e.answers[0]
        passage = answer_passage(e.context, start)
        records.append(_record(JSQUAD_INSTRUCTION, f"文章：{passage}\n質問：{e.question}", text, "closed_qa", i))
    return records


def instruct_records(split: str, data_dir: Optional[str]) -> list[dict]:
    examples = load_dolly_ja(sft_sample_path("dolly_ja"))
    chosen = examples[:INSTRUCT_TRAIN] if split == "train" else examples[INSTRUCT_TRAIN:][::-1]
    return [_record(e.instruction, e.input, e.output, e.category, i) for i, e in enumerate(chosen)]


def prompt_pairs(path: Path) -> list[tuple[str, str]]:
    """(prompt, response) of each record in the alpaca_ja template, as the experts were tuned."""
    pairs = []
    for example in FORMATS.get("dolly_ja")(path):
        segments = TEMPLATES.get("alpaca_ja")(example, TemplateContext(bos="<s>", eos="</s>"))
        pairs.append(("".join(s.text for s in segments if not s.response),
                      "".join(s.text for s in segments if s.response)))
    return pairs


def gold_probability(backend, path: Path) -> float:
    """Mean over examples of P(gold label | prompt) renormalised over the three labels."""
    labels, pairs = list(JNLI_ANSWERS.values()), prompt_pairs(path)
    total = 0.0
    for prompt, response in pairs:
        scores = choice_logliks(backend, prompt, labels)
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total += weights[labels.index(response.removesuffix("</s>"))] / sum(weights)
    return total / max(1, len(pairs))


def inverse_perplexity(backend, path: Path) -> float:
    return 1.0 / response_perplexity(backend, prompt_pairs(path))


class Task:
    def __init__(self, records: Callable[[str, Optional[str]], list[dict]], metric: Callable, metric_name: str):
        self.records, self.metric, self.metric_name = records, metric, metric_name


TASKS: Registry[Task] = Registry("cycleqd task")
TASKS.register("jnli")(Task(jnli_records, gold_probability, "gold-label probability"))
TASKS.register("jsquad")(Task(jsquad_records, inverse_perplexity, "answer probability"))
TASKS.register("instruct")(Task(instruct_records, inverse_perplexity, "1 / response perplexity"))


def write_task_data(name: str, directory: Path, eval_examples: int, data_dir: Optional[str] = None) -> dict[str, Path]:
    """<name>-train.jsonl (what the expert is tuned on) and <name>-eval.jsonl (held out)."""
    task = TASKS.get(name)
    paths = {}
    for split, role, limit in (("train", "train", None), ("valid", "eval", eval_examples)):
        records = task.records(split, data_dir)[:limit]
        path = directory / f"{name}-{role}.jsonl"
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        paths[role] = path
    return paths


def score(name: str, backend, eval_path: Path) -> float:
    return float(TASKS.get(name).metric(backend, eval_path))
