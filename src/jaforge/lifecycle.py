"""The whole lifecycle on one config: each stage's output feeds the next (the README's main job).

    jaforge lifecycle --config recipes/lifecycle-tiny.yaml

corpus → tokenizer → tokenize-data → pretrain → export (Hugging Face) → greedy samples →
eval (JGLUE-format tasks) → sft (LoRA instruction tuning, before/after response perplexity).
Every stage writes into its own sub-directory of `dir`; `stages` chooses which run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jaforge.config import save_config
from jaforge.corpus.config import CorpusConfig
from jaforge.eval.config import EvalConfig
from jaforge.model.export import ExportConfig
from jaforge.sft.config import SFTConfig
from jaforge.tokenizer.config import TokenizerConfig
from jaforge.train.config import PretrainConfig
from jaforge.train.tokenize_data import TokenizeDataConfig

STAGE_ORDER = ["corpus", "tokenizer", "tokenize-data", "pretrain", "export", "samples", "eval", "sft"]


@dataclass
class LifecycleConfig:
    dir: str = "runs/lifecycle"
    """Run directory; each stage writes into its own sub-directory."""
    stages: list[str] = field(default_factory=lambda: list(STAGE_ORDER))
    """Which stages to run, in lifecycle order (a prefix of corpus, tokenizer, tokenize-data, …)."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """The corpus stage (output_dir becomes `<dir>/corpus`)."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    """The tokenizer stage (dir becomes `<dir>/tokenizer`; the first source reads the corpus shards)."""
    tokenize_data: TokenizeDataConfig = field(default_factory=TokenizeDataConfig)
    """Corpus shards → token shards (input, tokenizer and output_dir are set from the run)."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """The pretrain stage (its one dataset reads `<dir>/tokens`; output_dir becomes `<dir>/pretrain`)."""
    export: ExportConfig = field(default_factory=ExportConfig)
    """Hugging Face export of the pretrained model into `<dir>/hf`."""
    prompts: list[str] = field(default_factory=lambda: ["日本の", "今日は"])
    """Prompts for the greedy samples written to `<dir>/samples.json`."""
    sample_tokens: int = 24
    """Tokens generated per prompt."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """k-shot evaluation of the pretrained model on JGLUE-format tasks (model, tokenizer and
    output_dir are set from the run: `<dir>/pretrain`, `<dir>/tokenizer`, `<dir>/eval`)."""
    sft: SFTConfig = field(default_factory=SFTConfig)
    """Instruction tuning of the pretrained model (model, tokenizer and output_dir are set from
    the run: `<dir>/pretrain/model`, `<dir>/tokenizer`, `<dir>/sft`)."""


class LifecycleResult(dict):
    """Each stage's result by stage name (the command line prints one section per stage)."""


def run(cfg: LifecycleConfig) -> LifecycleResult:
    """Run the chosen stages in turn; returns each stage's result by stage name."""
    unknown = sorted(set(cfg.stages) - set(STAGE_ORDER))
    if unknown:
        raise ValueError(f"stages: unknown {unknown}; known, in order: {', '.join(STAGE_ORDER)}")
    root = Path(cfg.dir)
    root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root / "config.yaml")
    results = LifecycleResult()
    for stage in (s for s in STAGE_ORDER if s in cfg.stages):
        results[stage] = _RUNNERS[stage](cfg, root, results)
    return results


def _corpus(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge import corpus

    return corpus.run(replace(cfg.corpus, output_dir=str(root / "corpus")))


def _tokenizer(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge import tokenizer

    first, *rest = cfg.tokenizer.sources
    sources = [replace(first, paths=[str(root / "corpus" / "data")]), *rest]
    return tokenizer.run(replace(cfg.tokenizer, output_dir=str(root / "tokenizer"), sources=sources))


def _tokenize_data(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge.train.tokenize_data import run as tokenize_data

    return tokenize_data(replace(cfg.tokenize_data, input=[str(root / "corpus" / "data")],
                                 tokenizer=str(root / "tokenizer"), output_dir=str(root / "tokens")))


def _pretrain(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge.train import run as pretrain

    meta = json.loads((root / "tokens" / "meta.json").read_text(encoding="utf-8"))
    dataset = replace(cfg.pretrain.data.datasets[0], path=str(root / "tokens"))
    data = replace(cfg.pretrain.data, datasets=[dataset], phases=[])
    model = replace(cfg.pretrain.model, vocab_size=meta["vocab_size"])
    return pretrain(replace(cfg.pretrain, data=data, model=model, output_dir=str(root / "pretrain")))


def _export(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge.model import export

    return export.run(replace(cfg.export, checkpoint=str(root / "pretrain"), out_dir=str(root / "hf"),
                              tokenizer_dir=str(root / "tokenizer")))


def _samples(cfg: LifecycleConfig, root: Path, results: dict) -> dict[str, str]:
    """Greedy continuations of `prompts` by the pretrained model."""
    import torch
    from tokenizers import Tokenizer

    from jaforge.model import load_model

    model, _ = load_model(root / "pretrain" / "model")
    model.eval()
    tok = Tokenizer.from_file(str(root / "tokenizer" / "tokenizer.json"))
    samples = {}
    for prompt in cfg.prompts:
        ids = torch.tensor([tok.encode(prompt, add_special_tokens=False).ids])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=cfg.sample_tokens, eos_id=tok.token_to_id("</s>"))
        samples[prompt] = tok.decode(out[0].tolist())
    (root / "samples.json").write_text(json.dumps(samples, ensure_ascii=False, indent=1), encoding="utf-8")
    return samples


def _eval(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge import eval as evaluation

    return evaluation.run(replace(cfg.eval, model=str(root / "pretrain"), tokenizer=str(root / "tokenizer"),
                                  output_dir=str(root / "eval")))


def _sft(cfg: LifecycleConfig, root: Path, results: dict) -> Any:
    from jaforge import sft

    return sft.run(replace(cfg.sft, model=str(root / "pretrain" / "model"),
                           tokenizer=str(root / "tokenizer"), output_dir=str(root / "sft")))


_RUNNERS = {"corpus": _corpus, "tokenizer": _tokenizer, "tokenize-data": _tokenize_data,
            "pretrain": _pretrain, "export": _export, "samples": _samples, "eval": _eval,
            "sft": _sft}
