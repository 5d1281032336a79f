"""The export stage: a jaforge model directory → a Hugging Face Llama directory that stands alone.

    jaforge export --checkpoint runs/pretrain --tokenizer_dir runs/tokenizer --output_dir runs/hf \
        --card.license apache-2.0

`checkpoint` is a directory written by `jaforge.model.checkpoint.save_model` (model.safetensors +
model_config.json), or one holding such a directory as `model/` (a pretrain run's output
directory, or one of its `checkpoints/step-*` directories). `output_dir` receives
model.safetensors, config.json, generation_config.json, the tokenizer files (with the chat template
in tokenizer_config.json when one is given), README.md (the model card, `jaforge.model.card`) and
config.yaml; `transformers.AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`
load it. Models using a switch without a Llama equivalent (ALiBi, MoE, LayerNorm, …) fail with an
error naming the switch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt, Le

from jaforge.errors import ConfigError, InputError
from jaforge.extras import require
from jaforge.io.atomic import write_json, write_text
from jaforge.model.card import ModelCardConfig, model_card
from jaforge.model.checkpoint import load_model
from jaforge.model.config import ModelConfig
from jaforge.model.hf import check_llama_compatible, export_hf
from jaforge.paths import InputPath
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult


@dataclass
class GenerationDefaults:
    """generation_config.json: how `model.generate` decodes when the caller says nothing."""
    max_new_tokens: Annotated[int, Ge(1)] = 128
    do_sample: bool = False
    temperature: Annotated[float, Gt(0)] = 1.0
    top_p: Annotated[float, Gt(0), Le(1)] = 1.0
    repetition_penalty: Annotated[float, Gt(0)] = 1.0


@dataclass
class ExportConfig:
    checkpoint: InputPath = ""
    """A jaforge model directory (model.safetensors + model_config.json), or a pretrain output or
    checkpoint directory that holds one as `model/`."""
    tokenizer_dir: Optional[InputPath] = None
    """Tokenizer directory whose files (tokenizer.json, tokenizer_config.json, …) are copied in."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Precision of the exported weights."""
    chat_template: Optional[str] = None
    """A Jinja chat template written into tokenizer_config.json (the SFT stage sets the one it
    trained with, so `tokenizer.apply_chat_template` builds the same prompts)."""
    generation: GenerationDefaults = field(default_factory=GenerationDefaults)
    card: ModelCardConfig = field(default_factory=ModelCardConfig)
    """The model card (README.md): licence (required), languages, base model, data, evaluation."""
    output_dir: str = "runs/hf"
    """Where the Hugging Face directory is written."""


def model_directory(checkpoint: str) -> Path:
    """`checkpoint` itself when it holds model_config.json, else its `model/` subdirectory."""
    if not checkpoint:
        raise ConfigError("'checkpoint': set it to a jaforge model directory (model_config.json + "
                          "model.safetensors) or a pretrain output directory")
    for candidate in (Path(checkpoint), Path(checkpoint) / "model"):
        if (candidate / "model_config.json").exists():
            return candidate
    raise InputError(checkpoint, f"neither it nor {Path(checkpoint) / 'model'} holds "
                                 "model_config.json + model.safetensors")


def run_directory(model_dir: Path) -> Optional[Path]:
    """The training run a model directory came from (the folder with metrics.jsonl), if any."""
    for candidate in (model_dir, model_dir.parent, model_dir.parent.parent.parent):
        if (candidate / "metrics.jsonl").exists():
            return candidate
    return None


def generation_config(defaults: GenerationDefaults, model_config: dict[str, Any]) -> dict[str, Any]:
    config = {"bos_token_id": model_config.get("bos_token_id"),
              "eos_token_id": model_config.get("eos_token_id"),
              "pad_token_id": model_config.get("pad_token_id"),
              "max_new_tokens": defaults.max_new_tokens, "do_sample": defaults.do_sample,
              "repetition_penalty": defaults.repetition_penalty}
    if defaults.do_sample:
        config.update(temperature=defaults.temperature, top_p=defaults.top_p)
    return {k: v for k, v in config.items() if v is not None}


def add_chat_template(out: Path, template: str) -> None:
    path = out / "tokenizer_config.json"
    if not path.exists():
        raise ConfigError("'chat_template' needs the tokenizer: set tokenizer_dir")
    config = json.loads(path.read_text(encoding="utf-8"))
    write_json(path, {**config, "chat_template": template})


def export(cfg: ExportConfig, model: Any, model_cfg: ModelConfig, out: Path,
           run_dir: Optional[Path], tags: tuple[str, ...] = ("text-generation",)) -> dict[str, str]:
    """Write the HF directory: weights, configs, tokenizer, chat template, model card."""
    torch = require("torch", "train", "jaforge export")
    export_hf(model, model_cfg, out, tokenizer_dir=cfg.tokenizer_dir, dtype=getattr(torch, cfg.dtype))
    hf_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    write_json(out / "generation_config.json", generation_config(cfg.generation, hf_config))
    if cfg.chat_template:
        add_chat_template(out, cfg.chat_template)
    write_text(out / "README.md", model_card(cfg.card, model_cfg, out, run_dir, tags))
    return {"model": str(out), "model_card": str(out / "README.md"),
            "config": str(out / "config.json")}


def run(cfg: ExportConfig) -> StageResult:
    """Export the checkpoint into `output_dir`."""
    model_dir = model_directory(cfg.checkpoint)
    if not cfg.card.license:
        raise ConfigError("'card.license': required — the licence of the weights (e.g. apache-2.0, "
                          "cc-by-4.0, llama3.1, other); jaforge does not choose one for you")
    model, model_cfg = load_model(model_dir)
    check_llama_compatible(model_cfg)  # before anything is written
    with open_run(cfg.output_dir, "export", cfg) as out:
        outputs = export(cfg, model, model_cfg, out, run_directory(model_dir))
    summary = (f"exported `{model_dir}` → `{out}` (Llama format, {cfg.dtype}); "
               f"model card: {out / 'README.md'}\n")
    params = sum(p.numel() for p in model.parameters())
    return StageResult("export", str(out), outputs, {"parameters": params}, summary)
