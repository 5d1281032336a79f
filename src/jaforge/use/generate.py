"""`jaforge generate`: continuations of prompts from the command line or a JSONL file.

    jaforge generate --model runs/lifecycle-tiny/hf --prompts '[日本の, 今日は]'
    jaforge generate --model runs/x/hf --prompts_file prompts.jsonl --generation.temperature 0.7 \
        --generation.top_p 0.9 --generation.stop '["\\n\\n"]'
    jaforge generate --model runs/lifecycle-tiny/sft/merged-hf --chat true --prompts '[日本の首都は？]'

Writes `generations.jsonl` ({"prompt", "output"} per line, in prompt order) and config.yaml into
`output_dir`. Prompts are encoded with the model's tokenizer and its default special tokens (BOS,
as in training: see the BOS convention in `jaforge.tokenizer`). With `chat: true` each prompt is
one user turn put through the model's chat template (the prompt an SFT model was tuned on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge

from jaforge.io.records import read_records
from jaforge.errors import ConfigError, InputError
from jaforge.eval import GenerationConfig, generate, load_backend
from jaforge.io.atomic import write_text
from jaforge.paths import InputPath
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult


@dataclass
class GenerateConfig:
    model: InputPath = "runs/lifecycle-tiny/hf"
    """A Hugging Face causal-LM directory, a jaforge model directory or a pretrain output directory."""
    tokenizer: Optional[InputPath] = None
    """Tokenizer directory or tokenizer.json; default: found next to the model."""
    prompts: list[str] = field(default_factory=list)
    """Prompts given directly."""
    prompts_file: Optional[InputPath] = None
    """A JSONL file (or a JSON array) of {"prompt": …} records, read after `prompts`."""
    prompt_field: str = "prompt"
    """The field of `prompts_file` that holds the prompt."""
    chat: bool = False
    """Format each prompt as one user turn with the model's chat template (an SFT model's export
    has one); the model's reply is the output."""
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_new_tokens=64))
    """Decoding: max_new_tokens, temperature, top_p, repetition_penalty, stop strings, seed."""
    device: str = "auto"
    """torch device: auto (cuda when there is a GPU, else cpu), cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype: auto = float32 on CPU, bfloat16 on CUDA (float16 where bf16 is missing)."""
    limit: Optional[Annotated[int, Ge(1)]] = None
    """Generate for the first `limit` prompts only."""
    output_dir: str = "runs/generate"
    """Where generations.jsonl and config.yaml are written."""


def read_prompts(cfg: GenerateConfig) -> list[str]:
    prompts = list(cfg.prompts)
    if cfg.prompts_file:
        for place, record in read_records(cfg.prompts_file):
            value = record.get(cfg.prompt_field)
            if not isinstance(value, str):
                raise InputError(place, f"no string field '{cfg.prompt_field}' (set prompt_field)")
            prompts.append(value)
    if not prompts:
        raise ConfigError("'prompts': give prompts or a prompts_file")
    return prompts[:cfg.limit] if cfg.limit else prompts


def chat_prompts(tokenizer: Any, prompts: list[str]) -> list[str]:
    """Each prompt as one user turn through the tokenizer's chat template."""
    if tokenizer.hf is None or not getattr(tokenizer.hf, "chat_template", None):
        raise ConfigError("'chat': the model's tokenizer has no chat template (tokenizer_config.json "
                          "chat_template); export an SFT model, or leave chat false")
    return [tokenizer.chat_prompt(p) for p in prompts]


def run(cfg: GenerateConfig) -> StageResult:
    prompts = read_prompts(cfg)
    backend = load_backend(cfg.model, cfg.device, cfg.tokenizer, cfg.dtype)
    inputs = chat_prompts(backend.tokenizer, prompts) if cfg.chat else prompts
    with open_run(cfg.output_dir, "generate", cfg) as out:
        outputs = generate(backend, inputs, cfg.generation)
        rows = [{"prompt": p, "output": o} for p, o in zip(prompts, outputs)]
        write_text(out / "generations.jsonl",
                   "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = "| prompt | output |\n|---|---|\n" + "\n".join(
        f"| {_cell(r['prompt'])} | {_cell(r['output'])} |" for r in rows[:10]) + "\n"
    return StageResult("generate", str(Path(cfg.output_dir)),
                       {"generations": str(Path(cfg.output_dir) / "generations.jsonl")},
                       {"prompts": len(rows)}, summary)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "⏎")[:200]
