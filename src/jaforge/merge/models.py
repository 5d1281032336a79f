"""An input model of a merge: a Hugging Face directory or a jaforge model, seen as named tensors.

    model = InputModel.open("runs/lifecycle-tiny/hf")     # or a jaforge model dir (model_config.json)
    model.names(); model.read("model.layers.0.mlp.up_proj.weight"); model.vocabulary()

Tensors are always named as in Hugging Face's Llama layout: a jaforge model's names are mapped with
the model stage's export names, and its config.json is the one its export would write, so jaforge
and HF models merge together and the output is an HF directory. A tied output head
(`lm_head.weight` absent) reads as the token embedding.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from jaforge.errors import InputError, input_errors
from jaforge.merge.adapters import LoRAAdapter
from jaforge.merge.tensors import TensorFiles, TensorInfo
from jaforge.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_config
from jaforge.extras import require
from jaforge.model.hf import (HFExportError, check_llama_compatible, llama_config, to_hf_name,
                              tokenizer_special_ids)
from jaforge.paths import split_model_reference

EMBEDDING = "model.embed_tokens.weight"
OUTPUT_HEAD = "lm_head.weight"
# Tensors whose rows are tokens, by the name's end (Llama, GPT-2/NeoX, Mistral, Qwen … layouts).
VOCABULARY_SUFFIXES = ("embed_tokens.weight", "lm_head.weight", "wte.weight", "embed_in.weight",
                       "embed_out.weight", "word_embeddings.weight")
LAYER_PATTERN = re.compile(r"(?:^|\.)(?:layers|h|blocks|block)\.(\d+)\.")


def is_vocabulary_tensor(name: str) -> bool:
    return name.endswith(VOCABULARY_SUFFIXES)


def layer_index(name: str) -> Optional[int]:
    """The transformer layer a tensor belongs to (`model.layers.3.…` → 3), None outside layers."""
    match = LAYER_PATTERN.search(name)
    return int(match.group(1)) if match else None


@dataclass
class InputModel:
    path: Path
    kind: str  # "hf" | "jaforge"
    files: TensorFiles
    config: dict[str, Any]
    """The config.json of the model (for a jaforge model: the one its HF export writes)."""
    tokenizer_dir: Optional[Path]
    _names: dict[str, str] = field(default_factory=dict)  # HF name → name in the files
    _vocab: Optional[dict[str, int]] = None
    adapter: Optional[LoRAAdapter] = None
    """A LoRA adapter applied to the tensors as they are read (`<model>+<adapter>`)."""

    @classmethod
    def open(cls, reference: str | Path) -> "InputModel":
        """The model of a reference: a directory, or `<model>+<LoRA adapter directory>`."""
        model_path, adapter_path = split_model_reference(str(reference))
        model = cls._open_dir(Path(model_path))
        if adapter_path is not None:
            model.adapter = LoRAAdapter.open(adapter_path)
            model.adapter.check_targets(model.path, model.names())
        return model

    @classmethod
    def _open_dir(cls, path: Path) -> "InputModel":
        if not path.is_dir():
            raise InputError(path, "is not a model directory; jaforge merges local Hugging Face "
                             "or jaforge model directories and downloads nothing")
        if (path / CONFIG_NAME).exists():
            return cls._jaforge(path)
        if (path / "config.json").exists():
            with input_errors(path / "config.json", "a Hugging Face config.json"):
                config = json.loads((path / "config.json").read_text("utf-8"))
            files = TensorFiles.open(path)
            return cls(path, "hf", files, config, find_tokenizer(path), {n: n for n in files.names()})
        raise InputError(path, "holds neither config.json (Hugging Face) nor model_config.json (jaforge)")

    @classmethod
    def _jaforge(cls, path: Path) -> "InputModel":
        with input_errors(path / CONFIG_NAME, "a jaforge model config"):
            model_cfg = load_config(path)
        try:
            check_llama_compatible(model_cfg)
        except HFExportError as err:
            raise InputError(path, f"cannot be merged into a Hugging Face model: {err}") from None
        files = TensorFiles.open(path, WEIGHTS_NAME)
        tokenizer_dir = find_tokenizer(path)
        first = files.info(files.names()[0]).dtype
        config = llama_config(model_cfg, first, tokenizer_special_ids(tokenizer_dir))
        return cls(path, "jaforge", files, config, tokenizer_dir, {to_hf_name(n): n for n in files.names()})

    def names(self) -> list[str]:
        return list(self._names)

    def has(self, name: str) -> bool:
        return name in self._names or (name == OUTPUT_HEAD and self.tied_head)

    @property
    def tied_head(self) -> bool:
        return OUTPUT_HEAD not in self._names and EMBEDDING in self._names

    def info(self, name: str) -> TensorInfo:
        return self.files.info(self._source(name))

    def read(self, name: str) -> torch.Tensor:
        tensor = self.files.read(self._source(name))
        return self.adapter.apply(name, tensor) if self.adapter is not None else tensor

    def _source(self, name: str) -> str:
        if name == OUTPUT_HEAD and self.tied_head:
            name = EMBEDDING
        if name not in self._names:
            raise InputError(self.path, f"has no tensor '{name}'")
        return self._names[name]

    @property
    def num_layers(self) -> int:
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            if isinstance(self.config.get(key), int):
                return self.config[key]
        found = [i for i in map(layer_index, self._names) if i is not None]
        return max(found) + 1 if found else 0

    def vocabulary(self) -> Optional[dict[str, int]]:
        """Token string → id of the model's tokenizer (added tokens included); None without one."""
        if self._vocab is None and self.tokenizer_dir is not None:
            self._vocab = load_tokenizer(self.tokenizer_dir).get_vocab(with_added_tokens=True)
        return self._vocab


def find_tokenizer(model_dir: Path) -> Optional[Path]:
    """tokenizer.json in the model dir, beside it, or in a tokenizer/ folder of its run."""
    for candidate in (model_dir, model_dir.parent, model_dir.parent / "tokenizer",
                      model_dir.parent.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    return None


def load_tokenizer(directory: Path):
    tokenizers = require("tokenizers", "tokenizer", "comparing the vocabularies of merged models")
    path = directory / "tokenizer.json"
    with input_errors(path, "a tokenizers tokenizer.json"):
        return tokenizers.Tokenizer.from_file(str(path))

