"""The eval stage: JGLUE-style k-shot scoring that matches lm-evaluation-harness, response-only
perplexity and generation, on jaforge checkpoints and Hugging Face causal-LM directories.

    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[japanese_leaderboard]'
    jaforge eval --model runs/lifecycle-tiny/hf --tasks '[jnli,jsts,safety_ja]' --shots 3

    from jaforge.eval import EvalConfig, run, load_backend, evaluate_tasks
    from jaforge.eval import response_perplexity, generate, GenerationConfig
    backend = load_backend("runs/lifecycle-tiny/pretrain/model")
    report = evaluate_tasks(backend, ["japanese_leaderboard"]); print(report.markdown())
    ppl = response_perplexity(backend, [(prompt, response), …])
    texts = generate(backend, prompts, GenerationConfig(max_new_tokens=32, repetition_penalty=1.1))

Modules: `jglue` and `leaderboard_data` (loaders of the published files), `templates` (prompts
by name), `prompts` (few-shot assembly), `tasks` (task and group registry), `metrics`,
`rouge_ja`, `refusal` and `safety` (the safety_ja task), `text_tokenizer`, `backends` (batched,
cached forward passes), `loading` (models on a checked device and dtype), `scoring` (log-likelihoods, perplexity), `generation` (batched, cached), `runner` (the
stage), `parity` (the same runs through lm-eval). No module imports torch at import time; the
stage's pieces are imported on first use.
"""

from __future__ import annotations

from typing import Any

from jaforge.eval.config import EvalConfig, GenerationConfig

__all__ = ["EvalConfig", "GenerationConfig", "run", "evaluate_tasks", "EvalReport", "load_backend",
           "Backend", "response_perplexity", "choice_logliks", "continuation_logprobs", "generate"]

_LAZY = {"run": "jaforge.eval.runner", "evaluate_tasks": "jaforge.eval.runner",
         "EvalReport": "jaforge.eval.runner", "load_backend": "jaforge.eval.loading",
         "Backend": "jaforge.eval.backends", "response_perplexity": "jaforge.eval.scoring",
         "continuation_logprobs": "jaforge.eval.scoring",
         "choice_logliks": "jaforge.eval.scoring", "generate": "jaforge.eval.generation"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'jaforge.eval' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
