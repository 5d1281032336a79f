"""LoRA on jaforge models through `peft`, with adapters saved under Hugging Face Llama names.

    model, targets = add_lora(model, LoRASettings(r=4, target_modules=["q_proj", "v_proj"]))
    save_adapter(model, settings, "runs/sft/adapter", base="runs/lifecycle-tiny/hf")
    # transformers + peft load it on the exported model with the same outputs:
    #   PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(hf_dir), "runs/sft/adapter")
    load_adapter(model, "runs/sft/adapter"); merged = merge_lora(model)

`peft` injects its LoRA layers in place into the jaforge Transformer's nn.Linear modules, so the
model keeps its own forward (packing, cache, generate). Saved keys follow PEFT's layout
(`base_model.model.<HF module>.lora_A.weight`) with jaforge names mapped by `to_hf_name`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from pathlib import Path
from typing import Any

import torch

from jaforge.errors import ConfigError
from jaforge.extras import require
from jaforge.model.checkpoint import atomic_write_bytes
from jaforge.model.hf import to_hf_name
from jaforge.sft.config import LoRASettings

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."


def lora_targets(model: torch.nn.Module, patterns: list[str]) -> list[str]:
    """Full names of the nn.Linear modules matching a pattern: a name's last part (`q_proj`) or a
    regular expression matching the whole jaforge name."""
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    chosen = [n for n in linear if any(n.rsplit(".", 1)[-1] == p or re.fullmatch(p, n) for p in patterns)]
    if not chosen:
        last_parts = sorted({n.rsplit(".", 1)[-1] for n in linear})
        raise ConfigError(f"'lora.target_modules': {patterns} match no linear layer; "
                         f"known: {', '.join(last_parts)}")
    return chosen


def peft_config(settings: LoRASettings, targets: list[str], base: str = "") -> Any:
    peft = require("peft", "sft", "LoRA")
    return peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                           target_modules=targets, bias="none", base_model_name_or_path=base or None)


def add_lora(model: torch.nn.Module, settings: LoRASettings) -> tuple[torch.nn.Module, list[str]]:
    """Freeze the model and inject trainable LoRA layers into the target modules (in place)."""
    peft = require("peft", "sft", "LoRA")
    targets = lora_targets(model, settings.target_modules)
    peft.inject_adapter_in_model(peft_config(settings, targets), model)
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name
    return model, targets


def hf_module_name(name: str) -> str:
    return to_hf_name(name + ".weight").removesuffix(".weight")


def lora_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA weights under jaforge names (`blocks.0.attn.q_proj.lora_A.weight`)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_" in name:
            module, rest = name.split(".lora_", 1)
            part, _adapter, *tail = rest.split(".")
            state[f"{module}.lora_{part}.{'.'.join(tail)}"] = tensor.detach().contiguous()
    return state


def save_adapter(model: torch.nn.Module, settings: LoRASettings, out_dir: str | Path,
                 base: str = "") -> Path:
    """adapter_config.json + adapter_model.safetensors in PEFT's layout, HF Llama module names."""
    safetensors_torch = require("safetensors.torch", "hf", "saving adapters")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in lora_state(model).items():
        module, rest = name.split(".lora_", 1)
        state[f"{PEFT_PREFIX}{hf_module_name(module)}.lora_{rest}"] = tensor
    targets = sorted({n.split(".lora_")[0] for n in lora_state(model)})
    config = peft_config(settings, [hf_module_name(t) for t in targets], base)
    config.task_type = "CAUSAL_LM"
    atomic_write_bytes(out / ADAPTER_WEIGHTS, safetensors_torch.save(state, metadata={"format": "pt"}))
    config.save_pretrained(str(out))
    return out


def load_adapter(model: torch.nn.Module, adapter_dir: str | Path) -> torch.nn.Module:
    """Inject and load an adapter saved by `save_adapter` (or by PEFT on the HF export)."""
    safetensors_torch = require("safetensors.torch", "hf", "loading adapters")
    adapter_dir = Path(adapter_dir)
    config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text("utf-8"))
    by_hf = {hf_module_name(n): n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    targets = [by_hf[t] for t in by_hf if any(t == p or t.endswith("." + p) for p in config["target_modules"])]
    settings = LoRASettings(r=config["r"], alpha=config["lora_alpha"], dropout=config["lora_dropout"],
                            target_modules=[re.escape(t) for t in targets])
    add_lora(model, settings)
    weights = safetensors_torch.load_file(str(adapter_dir / ADAPTER_WEIGHTS))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, tensor in weights.items():
            module, rest = key.removeprefix(PEFT_PREFIX).split(".lora_", 1)
            part, tail = rest.split(".", 1)
            params[f"{by_hf[module]}.lora_{part}.default.{tail}"].copy_(tensor)
    return model


def merged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a LoRA-injected model with every update folded into plain linear weights."""
    return merge_lora(copy.deepcopy(model))


def merge_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Fold every LoRA update into its base weight and restore plain nn.Linear modules."""
    require("peft", "sft", "LoRA")
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child,
                    module.get_base_layer())
    for param in model.parameters():
        param.requires_grad = True
    return model


def disabled_adapters(model: torch.nn.Module):
    """A context in which the LoRA layers pass their input through the base layer only (the
    frozen reference model of DPO)."""
    from peft.tuners.lora import LoraLayer

    @contextlib.contextmanager
    def context():
        layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
        for layer in layers:
            layer.enable_adapters(False)
        try:
            yield
        finally:
            for layer in layers:
                layer.enable_adapters(True)

    return context()
