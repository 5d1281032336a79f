"""Instruction-data mixtures: several sources, each with a sampling ratio and epochs, in one
deterministic order, with a held-out share of every source for response perplexity.

    from jaforge.sft.mixture import build_mixture
    mixture = build_mixture(cfg.data.sources, eval_fraction=0.1, eval_max=64, seed=0)
    mixture.train     # [SFTExample, …] in training order (all epochs)
    mixture.held_out  # {source name: [SFTExample, …]}

Every record layout becomes an `SFTExample`: the conversation's messages, the optional context
(`input`) of its first instruction and, for preference pairs, the rejected reply. A format is one
registered function `(path, source config, its key) -> list[SFTExample]`: the loaders of
jaforge.sft.data, the train split of the safety set (`safety_ja`) and any `datasets`-loadable data
with a column mapping (`hf`). The order depends only on the seed and the config.
"""

from __future__ import annotations

import glob
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from jaforge.paths import resolve_path as resolve_path_rule
from jaforge.errors import ConfigError, InputError
from jaforge.registry import Registry
from jaforge.sft.config import SourceConfig
from jaforge.sft.data import (
    Message,
    load_chat,
    load_dolly_ja,
    load_llm_japanese,
    load_oasst_ja,
    load_preference,
    load_safety_train,
)
from jaforge.sft.examples import SFTExample
from jaforge.sft.hf_source import load_hf_source

__all__ = ["SFTExample", "FORMATS", "Mixture", "build_mixture", "load_source", "resolve_path"]

Format = Callable[[Path, Optional[SourceConfig], str], list[SFTExample]]
"""(path, the source's config, its config key) → examples; most formats need the path only."""
FORMATS: Registry[Format] = Registry("sft data format")


def _instruction(prefix: str, e) -> SFTExample:
    return SFTExample(f"{prefix}-{e.index}", [Message("user", e.instruction),
                                               Message("assistant", e.output)], e.input)


@FORMATS.register("dolly_ja")
def dolly_ja(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    return [_instruction(path.stem, e) for e in load_dolly_ja(path)]


@FORMATS.register("llm_japanese")
def llm_japanese(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    return [_instruction(path.stem, e) for e in load_llm_japanese(path)]


@FORMATS.register("chat")
def chat(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    return [SFTExample(c.id, c.messages) for c in load_chat(path)]


@FORMATS.register("oasst_ja")
def oasst_ja(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    return [SFTExample(c.id, c.messages) for c in load_oasst_ja(path)]


@FORMATS.register("preference")
def preference(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    return [SFTExample(f"{path.stem}-{i}", [Message("user", p.prompt), Message("assistant", p.chosen)],
                       rejected=p.rejected) for i, p in enumerate(load_preference(path), start=1)]


@FORMATS.register("safety_ja")
def safety_ja(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    """The train split of data/sft/safety_ja.jsonl (refusals of harmful requests, helpful answers
    to benign ones on the same topics); its test split is the safety_ja eval task's."""
    return [SFTExample(c.id, c.messages) for c in load_safety_train(path)]


@FORMATS.register("hf")
def hf(path: Path, source: Optional[SourceConfig] = None, where: str = "") -> list[SFTExample]:
    """Any `datasets`-loadable data with a column mapping (jaforge.sft.hf_source)."""
    if source is None:
        raise ConfigError("format hf needs the source's config (its columns and split)")
    return load_hf_source(path, source, where)


def resolve_path(path: str, where: str = "data.sources") -> Path:
    """The source's path (configs resolve `data/…` to the embedded data: jaforge.paths); a glob
    pattern is kept as given."""
    resolved = Path(resolve_path_rule(path, Path.cwd()))
    if resolved.exists() or glob.has_magic(path):
        return resolved
    raise InputError(path, f"not found ('{where}')")


def load_source(source: SourceConfig, where: str = "data.sources[0]") -> list[SFTExample]:
    examples = FORMATS.get(source.format)(resolve_path(source.path, f"{where}.path"), source, where)
    if source.limit > 0:
        examples = examples[:source.limit]
    for e in examples:
        e.source = source.name
    if not examples:
        raise ConfigError(f"'{where}': data source '{source.name}' ({source.path}) holds no examples")
    return examples


@dataclass
class Mixture:
    train: list[SFTExample]
    held_out: dict[str, list[SFTExample]]
    drawn: dict[str, int] = field(default_factory=dict)
    """Training examples each source contributed (epochs included)."""


def draw_epochs(examples: list[SFTExample], ratio: float, epochs: float, rng: random.Random) -> list[SFTExample]:
    """`epochs` passes over a `ratio` share of `examples`, each pass a fresh shuffle; a fractional
    last epoch takes the start of one more shuffle."""
    per_epoch = max(1, round(len(examples) * ratio))
    drawn = []
    for epoch in range(math.ceil(epochs)):
        order = examples[:]
        rng.shuffle(order)
        share = min(1.0, epochs - epoch)
        drawn += order[:max(1, round(per_epoch * share))]
    return drawn


def check_source(source: SourceConfig, where: str) -> None:
    if not 0 < source.ratio <= 1:
        raise ConfigError(f"'{where}.ratio': {source.ratio} is not in (0, 1]; use epochs to repeat")
    if source.epochs <= 0:
        raise ConfigError(f"'{where}.epochs': {source.epochs} must be positive")


def build_mixture(sources: list[SourceConfig], eval_fraction: float, eval_max: int, seed: int) -> Mixture:
    """Split each source into held-out and training examples, draw the training ones by ratio and
    epochs, and shuffle all drawn examples together (each step a mixture of the sources)."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"'data.sources': names must be unique, got {names}")
    train, held_out, drawn = [], {}, {}
    for i, source in enumerate(sources):
        check_source(source, f"data.sources[{i}]")
        examples = load_source(source, f"data.sources[{i}]")
        rng = random.Random(f"{seed}:{source.name}")
        order = examples[:]
        rng.shuffle(order)
        n_eval = min(eval_max, int(len(order) * eval_fraction)) if len(order) > 1 else 0
        held_out[source.name] = order[:n_eval]
        taken = draw_epochs(order[n_eval:], source.ratio, source.epochs, rng)
        drawn[source.name] = len(taken)
        train += taken
    random.Random(f"{seed}:mixture").shuffle(train)
    return Mixture(train, held_out, drawn)
