"""The rest of a merged Hugging Face directory: config.json, the tokenizer files, no stale weights.

    write_hf_config(out, reference.config, dtype=torch.float32, vocab_size=None, num_layers=None)
    copy_tokenizer_files(reference.tokenizer_dir, out, tokenizer=None, chat_template=None)
    chat_template_of(chat_model.tokenizer_dir)     # an instruction-tuned input's template, if any
    remove_stale_weights(out, keep=["model.safetensors"])
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterable, Optional

import torch

from jaforge.errors import ConfigError, input_errors
from jaforge.io.atomic import write_json, write_text
from jaforge.merge.tensors import INDEX_NAME
from jaforge.model.hf import TOKENIZER_FILES

EXTRA_FILES = ("generation_config.json",)


def write_hf_config(out_dir: Path, config: dict[str, Any], dtype: torch.dtype,
                    vocab_size: Optional[int] = None, num_layers: Optional[int] = None) -> Path:
    """The reference model's config.json with the merged model's dtype (and vocabulary, depth)."""
    config = dict(config)
    name = str(dtype).removeprefix("torch.")
    config["torch_dtype"] = name
    if "dtype" in config or "torch_dtype" in config:
        config["dtype"] = name
    if vocab_size is not None:
        config["vocab_size"] = vocab_size
    if num_layers is not None:
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            if key in config:
                config[key] = num_layers
    return write_json(out_dir / "config.json", config, indent=2)


def copy_tokenizer_files(source: Optional[Path], out_dir: Path, tokenizer: Any = None,
                         chat_template: Optional[str] = None, extra_from: Optional[Path] = None) -> list[str]:
    """Copy the tokenizer files of `source` (tokenizer.json replaced by `tokenizer` when given, a
    `tokenizers.Tokenizer`), optionally set a chat template, and copy generation_config.json."""
    copied = []
    if source is not None:
        for name in TOKENIZER_FILES:
            if (source / name).exists():
                shutil.copyfile(source / name, out_dir / name)
                copied.append(name)
    if tokenizer is not None:
        write_text(out_dir / "tokenizer.json", tokenizer.to_str())
    if chat_template:
        _set_chat_template(out_dir, chat_template)
    for name in EXTRA_FILES:
        if extra_from is not None and (extra_from / name).exists():
            shutil.copyfile(extra_from / name, out_dir / name)
    return copied


def chat_template_of(tokenizer_dir: Optional[Path]) -> Optional[str]:
    """The chat template a tokenizer directory carries (tokenizer_config.json's, or the
    chat_template.jinja file transformers 5 writes), None when it has none."""
    if tokenizer_dir is None:
        return None
    if (tokenizer_dir / "chat_template.jinja").exists():
        return (tokenizer_dir / "chat_template.jinja").read_text("utf-8")
    path = tokenizer_dir / "tokenizer_config.json"
    if not path.exists():
        return None
    with input_errors(path, "a tokenizer_config.json"):
        template = json.loads(path.read_text("utf-8")).get("chat_template")
    return template if isinstance(template, str) and template else None


def _set_chat_template(out_dir: Path, template: str) -> None:
    if "{" not in template:
        raise ConfigError(f"'chat_template': give a Jinja template (named templates such as {template!r} "
                          "are not bundled with jaforge)")
    path = out_dir / "tokenizer_config.json"
    config = {}
    if path.exists():
        with input_errors(path, "a tokenizer_config.json"):
            config = json.loads(path.read_text("utf-8"))
    config["chat_template"] = template
    write_json(path, config, indent=2)


def remove_stale_weights(out_dir: Path, keep: Iterable[Path]) -> list[str]:
    """Delete weights a previous run left in `out_dir` that transformers would load with ours."""
    keep_names = {Path(p).name for p in keep}
    removed = []
    for path in out_dir.iterdir():
        stale = path.name.endswith((".safetensors", ".bin")) or path.name in (INDEX_NAME, "pytorch_model.bin.index.json")
        if stale and path.name not in keep_names and not (path.name == INDEX_NAME and len(keep_names) > 1):
            path.unlink()
            removed.append(path.name)
    return removed


def check_output_dir(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse to write into an input's directory (its weights would be replaced while being read)."""
    target = out.resolve()
    for path in inputs:
        if Path(path).resolve() == target:
            raise ConfigError(f"'output_dir' {out} is an input model's directory; choose another")
