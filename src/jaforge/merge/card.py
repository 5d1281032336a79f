"""The model card (README.md) of every merge output — `jaforge merge`, `merge-chat-vector` and
CycleQD's best model — written through `jaforge.model.card`: the Hub metadata header (license,
base_model = the inputs, tags, language, datasets), the architecture (from config.json), the
tokenizer, how the model was made (method, paper, inputs, the recipe), evaluation when given,
intended use and limitations.

    licence = merge_licence(cfg.card, [input dirs])          # before merging; ConfigError if unknown
    write_card(out, cfg.card, licence, MergeFacts(title="ties merge", inputs=[...], recipe=yaml_text,
                                                  method="ties", paper="https://arxiv.org/abs/2306.01708"))

The licence is required, as for every export. Without `card.license`, the inputs' own model cards
decide when every input states the same licence (a merge derives from all of them; the card says
where its licence came from); inputs that state none, or disagree, are refused naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import yaml

from jaforge.errors import ConfigError
from jaforge.io.atomic import write_text
from jaforge.model.card import ModelCardConfig, evaluation_section, header, tokenizer_section, usage_section


@dataclass
class MergeFacts:
    title: str
    inputs: list[str]
    """The models merged (base first), as the config names them."""
    recipe: str
    """The config as YAML (mergekit's format for `jaforge merge`)."""
    method: str
    paper: str = ""
    summary: str = ""
    """A line on what the merge did (counts, weights)."""
    parameters: Optional[int] = None


def input_license(model_dir: Optional[Path]) -> Optional[str]:
    """The licence an input's own model card states in its metadata header (None when it has no
    card or states none)."""
    card = model_dir / "README.md" if model_dir else None
    if card is None or not card.exists():
        return None
    text = card.read_text("utf-8", errors="replace")
    if not text.startswith("---") or text.count("---") < 2:
        return None
    try:
        meta = yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError:
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    return str(value) if value else None


def merge_licence(card: ModelCardConfig, inputs: list[Path], key: str = "card.license") -> tuple[str, str]:
    """(licence, where it came from): the config's, else the one every input's card states."""
    if card.license:
        return card.license, "set in the merge config"
    stated = {str(p): input_license(Path(p)) for p in inputs}
    licences = set(stated.values())
    if len(licences) == 1 and None not in licences:
        return licences.pop(), "stated by every input's model card"
    listed = ", ".join(f"{p}: {v or 'none stated'}" for p, v in stated.items())
    raise ConfigError(f"'{key}': required — the licence of the merged weights for its model card; the "
                      f"inputs' cards do not agree on one ({listed}); set it (e.g. apache-2.0), or "
                      f"model_card: false")


def architecture_section(config: dict, parameters: Optional[int]) -> str:
    rows = [("architecture", ", ".join(config.get("architectures") or [config.get("model_type", "?")]))]
    rows += [(label, config[key]) for label, key in (
        ("layers", "num_hidden_layers"), ("hidden size", "hidden_size"),
        ("attention heads", "num_attention_heads"), ("key/value heads", "num_key_value_heads"),
        ("feed-forward width", "intermediate_size"), ("vocabulary", "vocab_size"),
        ("context length", "max_position_embeddings"), ("dtype", "torch_dtype"),
        ("tied embeddings", "tie_word_embeddings")) if key in config]
    if parameters is not None:
        rows.insert(1, ("parameters", f"{parameters:,}"))
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return f"## Model\n\n| | value |\n|---|---|\n{table}\n"


def merge_header(card: ModelCardConfig, licence: str, inputs: list[str], tags: list[str]) -> str:
    """The Hub header (jaforge.model.card's), with every input as base_model (a list, as the Hub
    takes for merges)."""
    text = header(replace(card, license=licence, base_model=None), tags)
    meta = yaml.safe_load(text.split("---", 2)[1])
    meta["base_model"] = [card.base_model] if card.base_model else list(dict.fromkeys(inputs))
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n"


def card_text(out_dir: Path, card: ModelCardConfig, licence: tuple[str, str], facts: MergeFacts) -> str:
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text("utf-8")) if config_path.exists() else {}
    cited = f" ([paper]({facts.paper}))" if facts.paper else ""
    listed = "\n".join(f"- `{m}`" for m in dict.fromkeys(facts.inputs))
    made = (f"## How it was made\n\nMerged with [jaforge](https://github.com/) by **{facts.method}**{cited} "
            f"from:\n\n{listed}\n\n" + (f"{facts.summary}\n\n" if facts.summary else "")
            + f"Licence: {licence[0]} ({licence[1]}).\n\n"
            + f"### Recipe\n\n```yaml\n{facts.recipe.rstrip()}\n```\n")
    parts = [merge_header(card, licence[0], facts.inputs, ["merge"]),
             f"# {card.model_name or facts.title}\n", made,
             architecture_section(config, facts.parameters), tokenizer_section(out_dir),
             evaluation_section(card.eval_results), usage_section(card.model_name or out_dir.name),
             f"## Intended use\n\n{card.intended_use}\n", f"## Limitations\n\n{card.limitations}\n"]
    return "\n".join(parts)


def write_card(out_dir: Path, card: ModelCardConfig, licence: tuple[str, str], facts: MergeFacts) -> Path:
    return write_text(out_dir / "README.md", card_text(out_dir, card, licence, facts))
