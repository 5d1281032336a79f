"""`jaforge catalog`: Japanese and Japanese-capable open base models, and what jaforge can do with them.

    jaforge catalog                                   # every model
    jaforge catalog --can continue --max_params 2e9   # bases a laptop can continue-pretrain
    jaforge catalog --query swallow --licence '[apache-2.0, llama3.1]'

The catalogue (`data/catalog/models.yaml`) is written by the team from public model cards: family,
parameters, vocabulary and tokenizer, context length, licence. What jaforge can do follows from it:
*load* a `LlamaForCausalLM` (jaforge imports the Llama layout), *continue* it (load, and a licence
that allows derivatives) and *merge* it with another model of the same architecture, shapes and
vocabulary (the merge stage aligns different vocabularies by token string when asked).
`plan_warnings(base, partner)` is what the continual-pretraining recipe and the merge preflight
print before they start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from annotated_types import Gt

from jaforge.config import load_yaml
from jaforge.data import data_path
from jaforge.errors import InputError
from jaforge.stage_result import StageResult

LOADABLE = {"LlamaForCausalLM"}


@dataclass
class CatalogConfig:
    query: str = ""
    """Keep models whose id, name, organisation or notes contain this text (case-insensitive)."""
    family: list[str] = field(default_factory=list)
    """Keep these architecture families (llama, mistral, qwen2, gpt-neox, …); empty: all."""
    licence: list[str] = field(default_factory=list)
    """Keep these licences (apache-2.0, mit, llama3.1, other, …); empty: all."""
    can: Optional[Literal["load", "continue", "merge"]] = None
    """Keep models jaforge can load, continue-pretrain or merge."""
    max_params: Optional[Annotated[float, Gt(0)]] = None
    """Keep models with at most this many parameters (e.g. 2e9)."""
    path: Optional[str] = None
    """Another catalogue file in the same format; default: jaforge's data/catalog/models.yaml."""


def load_catalog(path: Optional[str] = None) -> list[dict[str, Any]]:
    source = Path(path) if path else data_path("catalog/models.yaml")
    models = (load_yaml(source) or {}).get("models")
    if not isinstance(models, list):
        raise InputError(source, "expected a top-level 'models:' list")
    return models


def abilities(model: dict[str, Any]) -> dict[str, bool]:
    load = model.get("architecture") in LOADABLE
    return {"load": load, "continue": load and bool(model.get("licence_allows_derivatives")),
            "merge": load}


def matches(model: dict[str, Any], cfg: CatalogConfig) -> bool:
    text = " ".join(str(model.get(k, "")) for k in ("id", "name", "organisation", "notes")).lower()
    return ((not cfg.query or cfg.query.lower() in text)
            and (not cfg.family or model.get("family") in cfg.family)
            and (not cfg.licence or model.get("licence") in cfg.licence)
            and (cfg.can is None or abilities(model)[cfg.can])
            and (cfg.max_params is None or float(model.get("parameters") or 0) <= cfg.max_params))


def table(models: list[dict[str, Any]]) -> str:
    lines = ["| id | family | params | vocab | tokenizer | context | licence | load / continue / merge |",
             "|---|---|---:|---:|---|---:|---|---|"]
    for m in models:
        can = abilities(m)
        marks = " / ".join("yes" if can[k] else "no" for k in ("load", "continue", "merge"))
        lines.append(f"| {m['id']} | {m.get('family')} | {float(m.get('parameters') or 0):.3g} | "
                     f"{m.get('vocab_size')} | {m.get('tokenizer')} | {m.get('context_length')} | "
                     f"{m.get('licence')} | {marks} |")
    return "\n".join(lines) + "\n"


def run(cfg: CatalogConfig) -> StageResult:
    models = [m for m in load_catalog(cfg.path) if matches(m, cfg)]
    return StageResult("catalog", "", {}, {"models": len(models)}, table(models))


def describe_model(reference: str, catalog: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """What is known of a model: its catalogue entry (by Hub id, or a local directory whose name or
    config.json names one), overlaid with what a local directory's config.json says."""
    catalog = catalog if catalog is not None else load_catalog()
    path = Path(reference)
    local: dict[str, Any] = {}
    if (path / "config.json").exists():
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        local = {"architecture": (config.get("architectures") or [None])[0],
                 "vocab_size": config.get("vocab_size"), "id": config.get("_name_or_path") or path.name}
    keys = {reference, path.name, str(local.get("id", ""))}
    entry = next((m for m in catalog if m["id"] in keys or m["id"].split("/")[-1] in keys), {})
    return {**entry, **{k: v for k, v in local.items() if v}}


def plan_warnings(base: str, partner: Optional[str] = None, purpose: str = "continue") -> list[str]:
    """Reasons a plan on `base` (and `partner`, for a merge) cannot work or may not be allowed."""
    model = describe_model(base)
    warnings = []
    if model.get("architecture") and model["architecture"] not in LOADABLE:
        warnings.append(f"{base}: architecture {model['architecture']} is not one jaforge loads "
                        f"(it loads {', '.join(sorted(LOADABLE))})")
    if purpose in ("continue", "merge") and model.get("licence_allows_derivatives") is False:
        warnings.append(f"{base}: its licence ({model.get('licence')}) does not allow derivatives "
                        f"as catalogued; check the model card before publishing the result")
    if partner is not None:
        other = describe_model(partner)
        if model.get("vocab_size") and other.get("vocab_size") and model["vocab_size"] != other["vocab_size"]:
            warnings.append(f"{base} and {partner} have different vocabularies ({model['vocab_size']} vs "
                            f"{other['vocab_size']} rows): merge them only with tokenizer.source "
                            f"base or union, which aligns rows by token string")
    return warnings
