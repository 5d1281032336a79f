"""The whole lifecycle on one config: each stage's output feeds the next (the README's main job).

    jaforge lifecycle --config recipes/lifecycle-tiny.yaml

Today it runs the corpus stage; each later stage (tokenizer, pretrain, sft, eval…) joins here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jaforge.config import save_config
from jaforge.corpus.config import CorpusConfig


@dataclass
class LifecycleConfig:
    dir: str = "runs/lifecycle"
    """Run directory; each stage writes into its own sub-directory."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """The corpus stage (its output.dir is replaced by `<dir>/corpus`)."""


def run(cfg: LifecycleConfig) -> dict[str, Any]:
    """Run each ready stage in turn; returns each stage's result by stage name."""
    from jaforge import corpus

    root = Path(cfg.dir)
    root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root / "config.yaml")
    corpus_cfg = replace(cfg.corpus, output=replace(cfg.corpus.output, dir=str(root / "corpus")))
    return {"corpus": corpus.run(corpus_cfg)}
