"""The sft-merge stage: fold a LoRA run's adapter into its base model and write the merged model.

    jaforge sft-merge --run_dir runs/sft-tiny                 # → runs/sft-tiny/merged/{model,hf}
    jaforge sft-merge --run_dir runs/sft-tiny --output_dir runs/merged

The run's config.yaml names the base model (jaforge or Hugging Face Llama dir) and its adapter/
holds the LoRA weights in PEFT's layout; the merged model is written as a jaforge model and,
with `hf: true`, as a Hugging Face Llama export with the run's tokenizer.
"""

from __future__ import annotations

import copy
from pathlib import Path

from jaforge.errors import InputError
from jaforge.sft.config import MergeConfig
from jaforge.stage_result import StageResult


def merged_copy(model):
    """A copy of a LoRA-injected model with every update folded into plain linear weights."""
    from jaforge.sft.lora import merge_lora

    return merge_lora(copy.deepcopy(model))


def run(cfg: MergeConfig) -> StageResult:
    """Load base + adapter, merge, write model/ (and hf/)."""
    from jaforge.config import load_config, save_config
    from jaforge.extras import require

    require("torch", "train", "jaforge sft-merge")
    from jaforge.model.checkpoint import save_model
    from jaforge.sft.config import SFTConfig
    from jaforge.sft.lora import load_adapter, merge_lora
    from jaforge.sft.trainer import export_hf_or_warn, find_tokenizer
    from jaforge.train.continual import find_model_dir, load_base

    run_dir = Path(cfg.run_dir)
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError(adapter, f"no adapter_config.json (was {run_dir} a LoRA run?)")
    sft_cfg = load_config(SFTConfig, run_dir / "config.yaml")
    _, model_dir = find_model_dir(sft_cfg.model, key="model")
    model, _ = load_base(model_dir, key="model")
    model = merge_lora(load_adapter(model, adapter))
    out = Path(cfg.output_dir) if cfg.output_dir else run_dir / "merged"
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    save_model(model, model.config, out / "model")
    outputs = {"model": str(out / "model")}
    if cfg.hf:
        export_hf_or_warn(model, out / "hf", find_tokenizer(sft_cfg, model_dir))
        outputs["hf"] = str(out / "hf")
    return StageResult("sft-merge", str(out), outputs=outputs)

