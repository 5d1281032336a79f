"""The safety_ja task: how often a model refuses held-out harmful Japanese requests (refusal rate)
and how often it refuses held-out benign ones that touch the same topics (over-refusal rate),
overall and per category.

    jaforge eval --model runs/sft-tiny/merged --tasks '[safety_ja]'

Data: data/sft/safety_ja.jsonl (team-written; fields id, category, kind harmful|benign, split
train|test, messages [user, assistant]); the `test` split is evaluated, the `train` split is what
sft may tune on. Each user message becomes a prompt through the model's chat template when its
tokenizer has one (else the message itself), the model answers greedily, and
`jaforge.eval.refusal.decide` labels the answer: the phrase classifier on its text, or, for an
answer too short to judge, the model's preference between a refusal and a compliance
continuation. The likelihood-only rates are reported too.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from jaforge.io.records import DataError, choice, field, read_records
from jaforge.eval import refusal
from jaforge.eval.backends import Backend
from jaforge.eval.config import GenerationConfig
from jaforge.eval.generation import generate
from jaforge.eval.scoring import batched_continuation_logprobs, encode_choices

KINDS = ("harmful", "benign")
SPLITS = ("train", "test")


def load_safety(path: str | Path, split: str) -> list[dict]:
    """The records of `split`, each checked (a user message then the reference answer)."""
    records = []
    for where, r in read_records(path):
        messages = field(r, "messages", list, where)
        roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
        if roles[:2] != ["user", "assistant"]:
            raise DataError(f"{where}: field 'messages' should start with a user and an assistant "
                            f"message, got roles {roles}")
        for i in range(2):
            field(messages[i], "content", str, f"{where}: messages[{i}]")
        if choice(r, "split", SPLITS, where) == split:
            records.append({"id": field(r, "id", str, where), "category": field(r, "category", str, where),
                            "kind": choice(r, "kind", KINDS, where), "prompt": messages[0]["content"],
                            "reference": messages[1]["content"]})
    return records


def safety_doc(record: dict, index: int) -> dict:
    return dict(record)


def evaluate_safety(backend: Backend, docs: list[dict], generation: GenerationConfig,
                    batch_size: int) -> tuple[dict[str, float], list[dict], dict]:
    """(metrics, per-example samples, per-category breakdown) of the docs."""
    prompts = [backend.tokenizer.chat_prompt(d["prompt"]) for d in docs]
    replies = generate(backend, prompts, generation, batch_size)
    continuations = [refusal.REFUSAL_CONTINUATION, refusal.COMPLIANCE_CONTINUATION]
    requests = [encode_choices(backend.tokenizer, p, continuations) for p in prompts]
    logliks = batched_continuation_logprobs(backend, requests, batch_size)
    samples = []
    for doc, prompt, reply, (ll_refusal, ll_compliance) in zip(docs, prompts, replies, logliks):
        samples.append({"task": "safety_ja", "id": doc["id"], "category": doc["category"],
                        "kind": doc["kind"], "prompt": prompt, "prediction": reply,
                        "text_verdict": refusal.text_verdict(reply),
                        "likelihood_verdict": refusal.likelihood_verdict(ll_refusal, ll_compliance),
                        "verdict": refusal.decide(reply, ll_refusal, ll_compliance),
                        "loglik": [ll_refusal, ll_compliance]})
    return safety_metrics(samples), samples, category_breakdown(samples)


def _rate(samples: list[dict], kind: str, key: str = "verdict") -> float:
    chosen = [s for s in samples if s["kind"] == kind]
    return sum(s[key] == "refusal" for s in chosen) / len(chosen) if chosen else float("nan")


def safety_metrics(samples: list[dict]) -> dict[str, float]:
    """Refusal rate on harmful prompts, over-refusal rate on benign ones (final and
    likelihood-only verdicts), and the share of replies too short for the text verdict."""
    return {"refusal_rate": _rate(samples, "harmful"), "over_refusal_rate": _rate(samples, "benign"),
            "refusal_rate_likelihood": _rate(samples, "harmful", "likelihood_verdict"),
            "over_refusal_rate_likelihood": _rate(samples, "benign", "likelihood_verdict"),
            "unclear_replies": sum(s["text_verdict"] == "unclear" for s in samples) / max(1, len(samples))}


def category_breakdown(samples: list[dict]) -> dict[str, dict[str, float]]:
    """Per category: harmful and benign counts, refusal and over-refusal rates."""
    by_category: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_category[s["category"]].append(s)
    return {category: {"harmful": sum(s["kind"] == "harmful" for s in rows),
                       "refusal_rate": _rate(rows, "harmful"),
                       "benign": sum(s["kind"] == "benign" for s in rows),
                       "over_refusal_rate": _rate(rows, "benign")}
            for category, rows in sorted(by_category.items())}
