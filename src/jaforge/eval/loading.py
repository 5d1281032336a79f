"""Loading a model for the eval stage: a Hugging Face causal-LM directory, a jaforge model
directory or a pretrain output, its tokenizer, on a checked device and dtype.

    from jaforge.eval.loading import load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")              # HF dir (config.json)
    backend = load_backend("runs/lifecycle-tiny/pretrain/model")  # jaforge dir (model_config.json)
    backend = load_backend("runs/lifecycle-tiny/pretrain")        # pretrain output: its model/
    backend = load_backend("my-1b", device="cuda", dtype="bfloat16")

Weights are read from safetensors only (nothing loaded may run code). A truncated or garbled
config, weights or tokenizer file fails naming the file; an unknown or absent device names the
config key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from jaforge import model as jaforge_model
from jaforge.errors import ConfigError, InputError
from jaforge.eval.backends import Backend, HFBackend, JaforgeBackend
from jaforge.eval.text_tokenizer import TextTokenizer, model_file_errors
from jaforge.extras import require

WEIGHTS_DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def resolve_model_dir(path: str | Path) -> tuple[str, Path]:
    """('hf' | 'jaforge', directory) for an HF dir, a jaforge model dir or a pretrain output."""
    path = Path(path)
    if (path / "model_config.json").exists():
        return "jaforge", path
    if (path / "model" / "model_config.json").exists():
        return "jaforge", path / "model"
    if (path / "config.json").exists():
        return "hf", path
    raise InputError(path, "not a model directory (expected config.json of a Hugging Face model, "
                           "model_config.json of a jaforge model, or a pretrain output with "
                           "model/model_config.json; eval config key 'model')")


def find_tokenizer(model_dir: Path, tokenizer: Optional[str | Path] = None) -> Path:
    """The tokenizer: given, next to the model, in the pretrain output, or the one that made the
    pretrain run's token shards (tokens/meta.json)."""
    if tokenizer is not None:
        return Path(tokenizer)
    for candidate in (model_dir, model_dir.parent, model_dir.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    config = model_dir.parent / "config.yaml"
    if config.exists():
        import yaml

        with model_file_errors(config, "the pretrain run's config.yaml"):
            datasets = (yaml.safe_load(config.read_text("utf-8")) or {}).get("data", {}).get("datasets", [])
        for dataset in datasets:
            meta = Path(dataset.get("path", "")) / "meta.json"
            if meta.exists():
                with model_file_errors(meta, "the token shards' meta.json"):
                    name = json.loads(meta.read_text("utf-8")).get("tokenizer")
                if name:
                    return Path(name)
    raise InputError(model_dir, "no tokenizer.json next to the model or its pretrain run; "
                                "set eval config key 'tokenizer'")


def resolve_device(device: str) -> str:
    """`device` checked against this machine's torch (a clear error instead of a CUDA trace);
    auto: cuda when torch sees a GPU, else cpu."""
    torch = require("torch", "train", "the eval stage")
    if not DEVICE_PATTERN.fullmatch(device):
        raise ConfigError(f"eval config key 'device': '{device}' is not auto, cpu, cuda, cuda:N or mps")
    if device == "auto":  # as lm-eval: the GPU when there is one
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"eval config key 'device': {device} asked for, but torch "
                              f"{torch.__version__} sees no CUDA device")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"eval config key 'device': {device} asked for, but there are "
                              f"{torch.cuda.device_count()} CUDA devices")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("eval config key 'device': mps asked for, but it is not available")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """'auto' → float32 on CPU, bfloat16 on CUDA (float16 where bf16 is missing) and MPS float16."""
    if dtype not in WEIGHTS_DTYPES:
        raise ConfigError(f"eval config key 'dtype': '{dtype}' is not one of {', '.join(WEIGHTS_DTYPES)}")
    if dtype != "auto":
        return dtype
    torch = require("torch", "train", "the eval stage")
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16" if device == "mps" else "float32"


def load_backend(path: str | Path, device: str = "auto", tokenizer: Optional[str | Path] = None,
                 dtype: str = "auto", max_length: Optional[int] = None) -> Backend:
    """A backend for the model at `path` (see `resolve_model_dir`), in eval mode on `device`."""
    torch = require("torch", "train", "the eval stage")
    device = resolve_device(device)
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    kind, directory = resolve_model_dir(path)
    config = directory / ("model_config.json" if kind == "jaforge" else "config.json")
    with model_file_errors(config, "a jaforge model_config.json" if kind == "jaforge" else "a Hugging Face config.json"):
        json.loads(config.read_text("utf-8"))
    text_tokenizer = TextTokenizer(find_tokenizer(directory, tokenizer))
    if kind == "jaforge":
        with model_file_errors(directory / "model.safetensors", "a jaforge model (model.safetensors "
                                                                "and model_config.json)"):
            model, cfg = jaforge_model.load_model(directory, device=device)
        return JaforgeBackend(model.to(torch_dtype).eval(), text_tokenizer, max_length or cfg.max_seq_len, device)
    transformers = require("transformers", "hf", "evaluating Hugging Face models")
    with model_file_errors(_weights_file(directory), "the model's weights"):
        # safetensors only: nothing read from disk may run code (no pickled checkpoints)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch_dtype,
                                                                  use_safetensors=True)
    model = model.to(device).eval()
    return HFBackend(model, text_tokenizer, max_length or hf_max_length(model, text_tokenizer), device)


def _weights_file(directory: Path) -> Path:
    for name in ("model.safetensors", "model.safetensors.index.json"):
        if (directory / name).exists():
            return directory / name
    return directory / "model.safetensors"


def hf_max_length(model: Any, tokenizer: TextTokenizer) -> int:
    """The context window as lm-eval's hf model reads it (config first, then the tokenizer)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if hasattr(model.config, attr):
            return int(getattr(model.config, attr))
    limit = getattr(tokenizer.hf, "model_max_length", None)
    return int(limit) if limit and limit < 10**9 else 2048
