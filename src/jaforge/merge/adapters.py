"""A PEFT LoRA adapter applied to an input model's tensors as they are read: mergekit's
`model: <model>+<adapter>` references, without merging the adapter into a copy first.

    adapter = LoRAAdapter.open("runs/sft/adapter")        # adapter_config.json + adapter_model.safetensors
    weight = adapter.apply("model.layers.0.self_attn.q_proj.weight", weight)   # W + (α/r)·B·A

The result is what `peft`'s `merge_and_unload()` writes: the update in float32, added to the
weight and stored back in the weight's dtype. Adapters whose update is not B·A per module (DoRA,
per-module ranks or alphas, embedding adapters, saved full modules) are refused by name.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from jaforge.errors import InputError, input_errors
from jaforge.merge.tensors import TensorFiles

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LORA_TENSOR = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")
UNSUPPORTED = ("use_dora", "rank_pattern", "alpha_pattern")


@dataclass
class LoRAAdapter:
    path: Path
    files: TensorFiles
    scale: float
    """α / r (α / √r with rsLoRA)."""
    transposed: bool
    """PEFT's fan_in_fan_out (GPT-2 style Conv1D weights): the update is (B·A)ᵀ."""
    modules: dict[str, tuple[str, str]]
    """Weight name (`<module>.weight`) → its (lora_A, lora_B) tensor names."""

    @classmethod
    def open(cls, path: str | Path) -> "LoRAAdapter":
        path = Path(path)
        if not (path / CONFIG_FILE).exists() or not (path / WEIGHTS_FILE).exists():
            raise InputError(path, f"is not a PEFT LoRA adapter ({CONFIG_FILE} + {WEIGHTS_FILE})")
        with input_errors(path / CONFIG_FILE, "a PEFT adapter config"):
            config = json.loads((path / CONFIG_FILE).read_text("utf-8"))
        if config.get("peft_type", "LORA") != "LORA":
            raise InputError(path / CONFIG_FILE,
                             f"peft_type is {config['peft_type']}; only LoRA adapters apply")
        for key in UNSUPPORTED:
            if config.get(key):
                raise InputError(path / CONFIG_FILE, f"sets '{key}', which jaforge does not apply; "
                                 "merge the adapter with peft's merge_and_unload() first")
        if config.get("bias", "none") != "none":
            raise InputError(path / CONFIG_FILE,
                             f"trains biases (bias: {config['bias']}); only bias: none applies")
        rank, alpha = config.get("r"), config.get("lora_alpha")
        if not isinstance(rank, int) or rank < 1 or not isinstance(alpha, (int, float)):
            raise InputError(path / CONFIG_FILE, "needs an integer 'r' ≥ 1 and a numeric 'lora_alpha'")
        files = TensorFiles.open(path, WEIGHTS_FILE)
        return cls(path, files, alpha / (math.sqrt(rank) if config.get("use_rslora") else rank),
                   bool(config.get("fan_in_fan_out")), _pairs(path, files.names()))

    def check_targets(self, model_path: Path, names: list[str]) -> None:
        missing = sorted(set(self.modules) - set(names))
        if missing:
            raise InputError(self.path, f"adapts {missing[0]!r}, which {model_path} does not have"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))

    def apply(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        """`weight` plus this adapter's update of it (unchanged when the adapter has none)."""
        if name not in self.modules:
            return weight
        a_name, b_name = self.modules[name]
        update = self.files.read(b_name).float() @ self.files.read(a_name).float() * self.scale
        if self.transposed:
            update = update.t()
        if update.shape != weight.shape:
            raise InputError(self.path, f"update of {name!r} has shape {list(update.shape)}, "
                             f"the weight {list(weight.shape)}")
        return (weight.float() + update).to(weight.dtype)


def _pairs(path: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    parts: dict[str, dict[str, str]] = {}
    for name in names:
        match = LORA_TENSOR.match(name)
        if match is None:
            raise InputError(path / WEIGHTS_FILE, f"holds {name!r}, which is not a LoRA A/B matrix "
                             "(embedding adapters and saved full modules are not applied)")
        parts.setdefault(match["module"] + ".weight", {})[match["part"]] = name
    incomplete = [module for module, found in parts.items() if set(found) != {"A", "B"}]
    if incomplete:
        raise InputError(path / WEIGHTS_FILE, f"has only one of lora_A/lora_B for {incomplete[0]!r}")
    return {module: (found["A"], found["B"]) for module, found in parts.items()}
