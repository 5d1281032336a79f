"""Instruction-data mixtures: several sources, each with a sampling ratio and epochs, in one
deterministic order, with a held-out share of every source for response perplexity.

    from jaforge.sft.mixture import build_mixture
    mixture = build_mixture(cfg.data.sources, eval_fraction=0.1, eval_max=64, seed=0)
    mixture.train     # [SFTExample, …] in training order (all epochs)
    mixture.held_out  # {source name: [SFTExample, …]}

Every record layout becomes an `SFTExample`: the conversation's messages, the optional context
(`input`) of its first instruction and, for preference pairs, the rejected reply. A format is one
registered function `path -> list[SFTExample]`. The order depends only on the seed and the config.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from jaforge.registry import Registry
from jaforge.sft.config import SourceConfig
from jaforge.sft.data import (Message, load_chat, load_dolly_ja, load_llm_japanese, load_oasst_ja,
                              load_preference)


@dataclass
class SFTExample:
    id: str
    messages: list[Message]
    """Optional system message, then user/assistant turns ending with the assistant."""
    input: str = ""
    """Context of the first instruction (Alpaca's 入力), empty when none."""
    rejected: Optional[str] = None
    """Preference pairs: the dispreferred final reply (messages end with the chosen one)."""
    source: str = ""

    @property
    def text(self) -> str:
        """All of the example's text (for n-gram checks)."""
        return "\n".join([m.content for m in self.messages] + [self.input, self.rejected or ""])


FORMATS: Registry[Callable[[Path], list[SFTExample]]] = Registry("sft data format")


def _instruction(prefix: str, e) -> SFTExample:
    return SFTExample(f"{prefix}-{e.index}", [Message("user", e.instruction),
                                               Message("assistant", e.output)], e.input)


@FORMATS.register("dolly_ja")
def dolly_ja(path: Path) -> list[SFTExample]:
    return [_instruction(path.stem, e) for e in load_dolly_ja(path)]


@FORMATS.register("llm_japanese")
def llm_japanese(path: Path) -> list[SFTExample]:
    return [_instruction(path.stem, e) for e in load_llm_japanese(path)]


@FORMATS.register("chat")
def chat(path: Path) -> list[SFTExample]:
    return [SFTExample(c.id, c.messages) for c in load_chat(path)]


@FORMATS.register("oasst_ja")
def oasst_ja(path: Path) -> list[SFTExample]:
    return [SFTExample(c.id, c.messages) for c in load_oasst_ja(path)]


@FORMATS.register("preference")
def preference(path: Path) -> list[SFTExample]:
    return [SFTExample(f"{path.stem}-{i}", [Message("user", p.prompt), Message("assistant", p.chosen)],
                       rejected=p.rejected) for i, p in enumerate(load_preference(path), start=1)]


def resolve_path(path: str) -> Path:
    """A path as given, else relative to jaforge's data directory's parent (data/sft/… from anywhere)."""
    given = Path(path)
    if given.exists():
        return given
    from jaforge.data import data_dir

    try:
        candidate = data_dir().parent / path
    except FileNotFoundError:
        candidate = given
    if candidate.exists():
        return candidate
    raise FileNotFoundError(f"data source {path} not found")


def load_source(source: SourceConfig) -> list[SFTExample]:
    examples = FORMATS.get(source.format)(resolve_path(source.path))
    if source.limit > 0:
        examples = examples[:source.limit]
    for e in examples:
        e.source = source.name
    if not examples:
        raise ValueError(f"data source '{source.name}' ({source.path}) holds no examples")
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
        raise ValueError(f"'{where}.ratio': {source.ratio} is not in (0, 1]; use epochs to repeat")
    if source.epochs <= 0:
        raise ValueError(f"'{where}.epochs': {source.epochs} must be positive")


def build_mixture(sources: list[SourceConfig], eval_fraction: float, eval_max: int, seed: int) -> Mixture:
    """Split each source into held-out and training examples, draw the training ones by ratio and
    epochs, and shuffle all drawn examples together (each step a mixture of the sources)."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"data.sources: names must be unique, got {names}")
    train, held_out, drawn = [], {}, {}
    for i, source in enumerate(sources):
        check_source(source, f"data.sources[{i}]")
        examples = load_source(source)
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
