"""What an sft run leaves besides its metrics: a PEFT adapter that names its base, and every model it
writes exported as a Hugging Face directory that stands alone — weights, tokenizer,
generation_config.json, the training template as the tokenizer's `chat_template` (so
`tokenizer.apply_chat_template(messages, add_generation_prompt=True)` gives the prompts the model
was tuned on) and a model card with an instruction-tuning section.

    check_card(cfg)                                      # before training
    outputs = save_outputs(cfg, model, base, ctx)        # {"adapter", "merged", "merged_hf", "model_card"}

LoRA: adapter/ (PEFT layout, HF Llama names; adapter_config.json's base_model_name_or_path is
lora.base_model_name_or_path, else the base directory's absolute path), plus merged/ (jaforge) and
merged-hf/ with `merge: true`: the base reloaded in fp32 with the saved adapter, as sft-merge does.
Full tuning: model/ and hf/. A model card needs `card.license`: a run that writes a model without
one is refused before it trains.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from jaforge.errors import ConfigError
from jaforge.model.card import ModelCardConfig
from jaforge.model.checkpoint import save_model
from jaforge.model.export import ExportConfig, export
from jaforge.model.hf import HFExportError
from jaforge.sft.chat_templates import chat_template
from jaforge.sft.config import SFTConfig
from jaforge.sft.lora import load_adapter, merge_lora, save_adapter
from jaforge.sft.templates import TemplateContext
from jaforge.train.continual import load_base

log = logging.getLogger(__name__)


@dataclass
class BaseModel:
    """The model an sft run tuned: its kind ('jaforge' | 'hf'), directory and tokenizer."""
    kind: str
    directory: Path
    tokenizer_dir: Path


def writes_model(cfg: SFTConfig) -> bool:
    return cfg.method == "full" or cfg.merge


def check_card(cfg: SFTConfig, key: str = "card.license") -> None:
    """A run that writes a model writes its model card, whose licence nobody may guess."""
    if writes_model(cfg) and not cfg.card.license:
        why = "full tuning" if cfg.method == "full" else "merge: true"
        raise ConfigError(f"'{key}': required — this run writes a model ({why}) whose Hugging Face "
                          "export carries a model card; set the licence of the tuned weights (e.g. "
                          "apache-2.0, or the base model's licence such as llama3.1), or run LoRA "
                          "without merge to write only the adapter")


def adapter_base(cfg: SFTConfig, base: BaseModel) -> str:
    """What adapter_config.json names as the adapter's base model."""
    if cfg.lora.base_model_name_or_path:
        return cfg.lora.base_model_name_or_path
    if base.kind == "jaforge":
        log.warning("adapter_config.json names a jaforge model directory (%s) as its base; PEFT loads "
                    "adapters on Hugging Face models: tune from a `jaforge export` of it, or set "
                    "lora.base_model_name_or_path to that export (or its Hub id)", base.directory)
    return str(base.directory.resolve())


def sft_card(cfg: SFTConfig, base_name: str) -> ModelCardConfig:
    """The run's card settings with sft's defaults: the base model and the sources' names."""
    card = cfg.card
    return replace(card, model_name=card.model_name or Path(cfg.output_dir).name,
                   base_model=card.base_model or base_name,
                   datasets=list(card.datasets) or [s.name for s in cfg.data.sources],
                   training_run=card.training_run or cfg.output_dir)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def tuning_section(cfg: SFTConfig, run_dir: Path) -> str:
    """The card's instruction-tuning section, from the run's data_report.json and results.json."""
    report, results = _read_json(run_dir / "data_report.json"), _read_json(run_dir / "results.json")
    method = (f"LoRA (r={cfg.lora.r}, alpha={cfg.lora.alpha}, on {', '.join(cfg.lora.target_modules)}), "
              "merged into the base" if cfg.method == "lora" else "full tuning")
    lines = ["## Instruction tuning", "",
             f"Tuned by `jaforge sft`: {method}; objective {cfg.objective}; template `{cfg.data.template}` "
             f"(the tokenizer's `chat_template`: `tokenizer.apply_chat_template(messages, "
             f"add_generation_prompt=True)` builds the prompts the model was tuned on); loss on "
             f"{cfg.data.loss_on} tokens; sequences of {cfg.data.seq_len} tokens"
             f"{', packed' if cfg.data.packing else ''}.", ""]
    sources = report.get("sources", {})
    if sources:
        lines += ["| source | examples | tokens | target tokens |", "|---|---:|---:|---:|"]
        lines += [f"| {n} | {s['examples']} | {s['tokens']} | {s['target_tokens']} |" for n, s in sources.items()]
        lines.append("")
    before, after = results.get("before", {}), results.get("after", {})
    shown = [k for k, v in after.items() if isinstance(v, (int, float))]
    if shown:
        lines += ["Held-out scores before and after tuning (perplexity: response tokens only):", "",
                  "| metric | before | after |", "|---|---:|---:|"]
        lines += [f"| {k} | {_number(before.get(k))} | {_number(after[k])} |" for k in shown]
        lines.append("")
    lines.append("Talk to it: `jaforge chat --model <this directory>`.")
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "–"


def export_model(cfg: SFTConfig, model: Any, out: Path, base: BaseModel, ctx: TemplateContext,
                 card: ModelCardConfig) -> Optional[dict[str, str]]:
    """The Hugging Face export of a tuned model (None, with a warning, when the architecture has
    no Llama equivalent: the jaforge model directory is then the only output)."""
    settings = ExportConfig(tokenizer_dir=str(base.tokenizer_dir), chat_template=chat_template(cfg.data.template, ctx),
                            card=card, output_dir=str(out))
    tags = ("text-generation", "sft", "conversational", *(("lora",) if cfg.method == "lora" else ()))
    try:
        return export(settings, model, model.config, out, Path(cfg.output_dir), tags,
                      tuning_section(cfg, Path(cfg.output_dir)))
    except HFExportError as err:
        log.warning("no Hugging Face export: %s", err)
        return None


def save_outputs(cfg: SFTConfig, model: Any, base: BaseModel, ctx: TemplateContext) -> dict[str, str]:
    """Write the run's adapter and models; their names → paths (the StageResult's outputs)."""
    out = Path(cfg.output_dir)
    if cfg.method != "lora":
        save_model(model, model.config, out / "model")
        exported = export_model(cfg, model, out / "hf", base, ctx, sft_card(cfg, str(base.directory)))
        return {"model": str(out / "model"), **_named(exported, "hf")}
    name = adapter_base(cfg, base)
    save_adapter(model, cfg.lora, out / "adapter", base=name)
    if not cfg.merge:
        return {"adapter": str(out / "adapter")}
    merged = merge_lora(load_adapter(load_base(base.directory, key="model")[0], out / "adapter"))
    save_model(merged, merged.config, out / "merged")
    exported = export_model(cfg, merged, out / "merged-hf", base, ctx, sft_card(cfg, name))
    return {"adapter": str(out / "adapter"), "merged": str(out / "merged"), **_named(exported, "merged_hf")}


def _named(exported: Optional[dict[str, str]], name: str) -> dict[str, str]:
    return {name: exported["model"], "model_card": exported["model_card"]} if exported else {}
