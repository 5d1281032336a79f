"""The stages the `jaforge` command and pipelines run: name → module, config class, one-line summary.

Every stage module has a config dataclass and `run(cfg) -> StageResult`; it may also have
`estimate(cfg) -> dict` (parameters, FLOPs, memory) for a pipeline's `--dry-run` plan. This table is
the one place where jaforge imports its own modules on demand: a stage's module is loaded only when
that stage is used, because stages need optional extras (torch for training, sentencepiece for
tokenizers) that a machine running only the corpus stage does not have; a missing one is named
with the `pip install` line that brings it.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from jaforge.extras import MissingExtraError
from jaforge.registry import Registry
from jaforge.stage_result import StageResult

# The optional extra that brings each package a stage may import at load time.
EXTRA_OF = {"torch": "train", "safetensors": "hf", "transformers": "hf", "peft": "sft",
            "sentencepiece": "tokenizer", "tokenizers": "tokenizer", "pyarrow": "parquet",
            "warcio": "web", "trafilatura": "web", "fugashi": "ja", "ray": "scale",
            "matplotlib": "plot", "optuna": "explore", "jinja2": "report", "markdown_it": "report"}


@dataclass(frozen=True)
class Stage:
    name: str
    module: str
    config: str
    summary: str

    def load_module(self) -> ModuleType:
        try:
            return importlib.import_module(self.module)
        except ModuleNotFoundError as err:
            extra = EXTRA_OF.get((err.name or "").split(".")[0])
            if extra is None:
                raise
            raise MissingExtraError(f"'{err.name}' is needed by `jaforge {self.name}` but is not "
                                    f"installed; run: pip install 'jaforge[{extra}]'") from None

    def config_class(self) -> type:
        return getattr(self.load_module(), self.config)

    def load(self) -> tuple[type, Any]:
        module = self.load_module()
        return getattr(module, self.config), self.run

    def run(self, cfg: Any) -> StageResult:
        result = self.load_module().run(cfg)
        return result if isinstance(result, StageResult) else _as_stage_result(self.name, cfg, result)

    def estimate(self, cfg: Any, gpus: int = 1) -> dict[str, Any]:
        estimate = getattr(self.load_module(), "estimate", None)
        return estimate(cfg, gpus) if estimate is not None else {}


def _as_stage_result(name: str, cfg: Any, result: Any) -> StageResult:
    """A stage still returning its own type (being moved to StageResult)."""
    if hasattr(result, "to_json") and hasattr(result, "markdown"):
        data = result.to_json()
    elif dataclasses.is_dataclass(result):
        data = dataclasses.asdict(result)
    else:
        data = dict(result) if isinstance(result, dict) else {}
    metrics = {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool)) or v is None}
    summary = result.markdown() if hasattr(result, "markdown") else json.dumps(
        data, ensure_ascii=False, indent=1, default=str)
    return StageResult(name, str(getattr(cfg, "output_dir", "")), {}, metrics, summary)


STAGES: Registry[Stage] = Registry("stage")


def _register(name: str, module: str, config: str, summary: str) -> None:
    STAGES.register(name)(Stage(name, module, config, summary))


_register("corpus", "jaforge.corpus", "CorpusConfig",
          "web/HTML/JSONL text → Japanese filters, dedup, PII masking → shards")
_register("parallel-text", "jaforge.corpus.parallel", "ParallelTextConfig",
          "English–Japanese pairs (TSV/JSONL) → pretraining documents; held-out pairs kept apart")
_register("embedded-text", "jaforge.corpus.embedded", "EmbeddedTextConfig",
          "jaforge's English documents and own source code → corpus shards (an English-first base)")
_register("tokenizer", "jaforge.tokenizer", "TokenizerConfig",
          "train a SentencePiece/BPE tokenizer on every document of the corpus shards")
_register("tokenizer-measure", "jaforge.tokenizer.measure", "MeasureConfig",
          "chars/token, fertility, byte-fallback and unknown rates of a tokenizer")
_register("tokenizer-sweep", "jaforge.tokenizer.sweep", "SweepConfig",
          "train and measure several vocabulary sizes; table and plots")
_register("tokenizer-expand", "jaforge.tokenizer.expand", "ExpandConfig",
          "add Japanese pieces to a base tokenizer, old ids unchanged")
_register("tokenize-data", "jaforge.tokenizer.tokenize_data", "TokenizeDataConfig",
          "corpus shards → token shards (memmap + index, held-out validation)")
_register("pretrain", "jaforge.train", "PretrainConfig",
          "token shards → a pretrained decoder (resumable, torchrun DDP/FSDP)")
_register("explore", "jaforge.explore", "ExploreConfig",
          "small-model studies: sweeps under budget rules, fits, report")
_register("eval", "jaforge.eval", "EvalConfig",
          "k-shot JGLUE scoring (lm-eval parity), JSQuAD generation, perplexity")
_register("sft", "jaforge.sft", "SFTConfig",
          "instruction tuning (LoRA or full; SFT or DPO) with data mixtures; before/after tables")
_register("sft-merge", "jaforge.sft.merge", "MergeConfig",
          "fold an sft run's LoRA adapter into its base model (jaforge + HF)")
_register("merge", "jaforge.merge", "MergeConfig",
          "merge models (mergekit YAML: linear, TIES, DARE, SLERP, model stock …), lazily")
_register("merge-chat-vector", "jaforge.merge.chat_vector", "ChatVectorConfig",
          "θ_cp + α·(θ_chat − θ_base), embedding rows matched by token string")
_register("cycleqd", "jaforge.merge.cycleqd", "CycleQDConfig",
          "CycleQD: quality-diversity search over merges of task experts")
_register("generate", "jaforge.use", "GenerateConfig",
          "continuations of prompts (command line or JSONL) by a jaforge or HF model → JSONL")
_register("chat", "jaforge.use.chat", "ChatConfig",
          "talk to a model in the terminal: its chat template, streamed replies, /reset, /exit")
_register("catalog", "jaforge.catalog", "CatalogConfig",
          "Japanese open base models: family, size, vocabulary, licence; what jaforge can do with each")
_register("export", "jaforge.model.export", "ExportConfig",
          "jaforge model/checkpoint → Hugging Face Llama directory (+ tokenizer)")
