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
stage), `parity` (the same runs through lm-eval). The package needs torch (`pip install 'jaforge[train]'`).
"""

from __future__ import annotations

from jaforge.eval.backends import Backend
from jaforge.eval.config import EvalConfig, GenerationConfig
from jaforge.eval.generation import generate
from jaforge.eval.loading import load_backend
from jaforge.eval.runner import EvalReport, evaluate_tasks, run
from jaforge.eval.scoring import choice_logliks, continuation_logprobs, response_perplexity

__all__ = ["EvalConfig", "GenerationConfig", "run", "evaluate_tasks", "EvalReport", "load_backend",
           "Backend", "response_perplexity", "choice_logliks", "continuation_logprobs", "generate"]
