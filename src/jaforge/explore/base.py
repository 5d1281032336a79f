"""The stage config a study's runs start from: `base_config` (a pretrain or sft YAML, with its own
`base:` presets) with the study's `base` mapping laid over it, paths made absolute (runs may start
in another directory or on another machine of a cluster).

    data = load_base(cfg)        # plain data for PretrainConfig / SFTConfig
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaforge.config import deep_merge, read_config_file
from jaforge.explore.config import ExploreConfig
from jaforge.paths import resolve_paths
from jaforge.sft.config import SFTConfig
from jaforge.train.config import PretrainConfig


def stage_config(stage: str) -> type:
    """The config class of the stage a study's runs train."""
    return SFTConfig if stage == "sft" else PretrainConfig


def _absolute(value: Any) -> Any:
    return str(Path(value).resolve()) if isinstance(value, str) and value and Path(value).exists() else value


def absolute_paths(data: dict) -> dict:
    """Dataset, init and (sft) model, tokenizer and source paths that exist from here become absolute."""
    for dataset in data.get("data", {}).get("datasets", []) or []:
        if isinstance(dataset, dict):
            dataset["path"] = _absolute(dataset.get("path"))
    for source in data.get("data", {}).get("sources", []) or []:
        if isinstance(source, dict):
            source["path"] = _absolute(source.get("path"))
    trainer = data.get("trainer", {})
    for key in ("init_from", "expansion"):
        if trainer.get(key):
            trainer[key] = _absolute(trainer[key])
    for key in ("model", "tokenizer"):
        data[key] = _absolute(data.get(key)) if key in data else data.get(key)
    return {k: v for k, v in data.items() if v is not None or k not in ("model", "tokenizer")}


def load_base(cfg: ExploreConfig) -> dict[str, Any]:
    """The base stage config as plain data: base_config's YAML with `base` laid over it."""
    data: dict = {}
    if cfg.base_config:
        path = Path(cfg.base_config)
        data = resolve_paths(stage_config(cfg.stage), read_config_file(path), path.parent)
    data = deep_merge(data, cfg.base)
    data.pop("output_dir", None)
    return absolute_paths(data)
