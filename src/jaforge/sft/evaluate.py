"""Before/after measurements of an sft run: held-out response perplexity, preference accuracy,
a few greedy generations, and (when the eval stage is installed) JGLUE-format task scores.

    scores = measure(model, data, encoder, cfg)          # {"ppl/dolly_ja": 41.2, …}
    write_results(out, before, after, generations)       # results.json + results.md

Response perplexity = exp of the mean over examples of each example's mean NLL over its response
tokens (prompt tokens masked), so long answers do not outweigh short ones.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from jaforge import eval as eval_stage
from jaforge.model.checkpoint import save_model
from jaforge.sft.encoding import IGNORE_INDEX, Encoded, TextEncoder, collate, pad_rows
from jaforge.sft.lora import merged_copy
from jaforge.sft.objectives import response_logprobs, shifted_targets


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def on_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def response_perplexity(model: torch.nn.Module, items: list[Encoded], pad_id: int,
                        batch_size: int = 16) -> float:
    """exp(mean over examples of the mean response-token NLL)."""
    if not items:
        return float("nan")
    model.eval()
    per_example = []
    for start in range(0, len(items), batch_size):
        batch = on_device(collate(pad_rows(items[start:start + batch_size]), pad_id, packed=False),
                          model_device(model))
        counts = (shifted_targets(batch["labels"]) != IGNORE_INDEX).sum(dim=1).clamp(min=1)
        per_example += (-response_logprobs(model, batch) / counts).tolist()
    return math.exp(sum(per_example) / len(per_example))


@torch.no_grad()
def preference_accuracy(model: torch.nn.Module, pairs: list, pad_id: int, batch_size: int = 16) -> float:
    """Share of pairs whose chosen reply the model finds likelier (per token) than the rejected one."""
    if not pairs:
        return float("nan")
    model.eval()
    wins = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        scores = []
        for side in ("chosen", "rejected"):
            items = [getattr(p, side) for p in chunk]
            batch = on_device(collate(pad_rows(items), pad_id, packed=False), model_device(model))
            counts = torch.tensor([max(1, i.targets) for i in items], device=batch["labels"].device)
            scores.append(response_logprobs(model, batch) / counts)
        wins += int((scores[0] > scores[1]).sum())
    return wins / len(pairs)


def measure(model: torch.nn.Module, held_out: dict[str, list], pad_id: int, batch_size: int) -> dict[str, float]:
    scores = {}
    for name, items in held_out.items():
        if items and hasattr(items[0], "chosen"):
            scores[f"pref_acc/{name}"] = preference_accuracy(model, items, pad_id, batch_size)
            items = [p.chosen for p in items]
        scores[f"ppl/{name}"] = response_perplexity(model, items, pad_id, batch_size)
    ppl = [v for k, v in scores.items() if k.startswith("ppl/")]
    if ppl:
        scores["ppl"] = math.exp(sum(map(math.log, ppl)) / len(ppl))
    return scores


@torch.no_grad()
def generate(model: torch.nn.Module, encoder: TextEncoder, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations of each prompt (one at a time: no padding to get wrong)."""
    model.eval()
    answers = []
    limit = model.config.max_seq_len - max_new_tokens
    for prompt in prompts:
        ids = encoder.encode(prompt)[-max(1, limit):]
        out = model.generate(torch.tensor([ids], device=model_device(model)), max_new_tokens,
                             eos_id=encoder.eos_id)
        answers.append(encoder.decode(out[0, len(ids):].tolist()))
    return answers


def task_scores(model: torch.nn.Module, tokenizer_dir: Path, tasks: list[str], shots: int,
                limit: int) -> dict[str, float]:
    """JGLUE-format task scores through the eval stage (`jaforge.eval.evaluate_tasks`) of the model
    as it is now: LoRA updates are folded into a temporary copy that the eval backend loads."""
    if not tasks:
        return {}
    scored = model
    if any("lora_" in name for name, _ in model.named_parameters()):
        scored = merged_copy(model)
    with tempfile.TemporaryDirectory() as tmp:
        save_model(scored, scored.config, tmp)
        backend = eval_stage.load_backend(tmp, tokenizer=str(tokenizer_dir))
        report = eval_stage.evaluate_tasks(backend, tasks, shots=shots, limit=limit or None)
    return {f"{name}/{metric}": float(value) for name, result in report.tasks.items()
            for metric, value in result.metrics.items() if isinstance(value, (int, float))}


def results_markdown(before: dict, after: dict, generations: list[dict], report: dict) -> str:
    lines = ["# SFT results", "", "| metric | before | after |", "|---|---:|---:|"]
    for key in after:
        lines.append(f"| {key} | {before.get(key, float('nan')):.4g} | {after[key]:.4g} |")
    lines += ["", "Perplexity: response tokens only, held-out examples; lower is better.", "",
              "## Data", "", "| source | examples | tokens | target tokens | truncated |",
              "|---|---:|---:|---:|---:|"]
    for name, s in report.get("sources", {}).items():
        lines.append(f"| {name} | {s['examples']} | {s['tokens']} | {s['target_tokens']} | {s['truncated']} |")
    if generations:
        lines += ["", "## Generations (greedy)", ""]
        for g in generations:
            lines += [f"**prompt** {g['instruction']}", "", f"- before: {g['before']!r}",
                      f"- after: {g['after']!r}", f"- reference: {g['reference']!r}", ""]
    return "\n".join(lines) + "\n"


def write_results(out: Path, before: dict, after: dict, generations: list[dict], report: dict) -> dict[str, Any]:
    results = {"before": before, "after": after, "generations": generations}
    for name, text in (("results.json", json.dumps(results, ensure_ascii=False, indent=1)),
                       ("results.md", results_markdown(before, after, generations, report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
    return results
