"""The sft-merge stage: fold a LoRA run's adapter into its base model and write the merged model.

    jaforge sft-merge --run_dir runs/sft-tiny                 # → runs/sft-tiny/merged/{model,hf}
    jaforge sft-merge --run_dir runs/sft-tiny --output_dir runs/merged --license apache-2.0

The run's config.yaml names the base model (jaforge or Hugging Face Llama dir) and its adapter/
holds the LoRA weights in PEFT's layout; the merged model is written as a jaforge model and,
with `hf: true`, as a Hugging Face Llama export that stands alone (tokenizer, the run's template
as `chat_template`, generation_config.json and a model card: jaforge.sft.outputs).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jaforge.config import load_config, save_config
from jaforge.errors import InputError
from jaforge.model.checkpoint import save_model
from jaforge.sft.config import MergeConfig, SFTConfig
from jaforge.sft.dataset import template_context
from jaforge.sft.encoding import TextEncoder
from jaforge.sft.lora import load_adapter, merge_lora
from jaforge.sft.outputs import (
    BaseModel,
    adapter_base,
    check_card,
    export_model,
    sft_card,
)
from jaforge.sft.trainer import find_tokenizer
from jaforge.stage_result import StageResult
from jaforge.train.continual import find_model_dir, load_base


def run(cfg: MergeConfig) -> StageResult:
    """Load base + adapter, merge, write model/ (and hf/)."""
    run_dir = Path(cfg.run_dir)
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError(adapter, f"no adapter_config.json (was {run_dir} a LoRA run?)")
    sft_cfg = load_config(SFTConfig, run_dir / "config.yaml")
    sft_cfg = replace(sft_cfg, output_dir=str(run_dir), merge=cfg.hf,
                      card=replace(sft_cfg.card, license=cfg.license or sft_cfg.card.license))
    check_card(sft_cfg, key="license")
    kind, model_dir = find_model_dir(sft_cfg.model, key="model")
    base = BaseModel(kind, model_dir, find_tokenizer(sft_cfg, model_dir))
    model = merge_lora(load_adapter(load_base(model_dir, key="model")[0], adapter))
    out = Path(cfg.output_dir) if cfg.output_dir else run_dir / "merged"
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    save_model(model, model.config, out / "model")
    outputs = {"model": str(out / "model")}
    if cfg.hf:
        ctx = template_context(sft_cfg.data, TextEncoder.from_dir(base.tokenizer_dir))
        exported = export_model(sft_cfg, model, out / "hf", base, ctx,
                                sft_card(sft_cfg, adapter_base(sft_cfg, base)))
        if exported:
            outputs.update(hf=exported["model"], model_card=exported["model_card"])
    return StageResult("sft-merge", str(out), outputs=outputs)
