"""The stages the `jaforge` command runs: name → (config class, run function, one-line summary).

Stages are imported only when chosen, so `jaforge --help` stays fast and light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from jaforge.registry import Registry


@dataclass(frozen=True)
class Stage:
    module: str
    config: str
    summary: str

    def load(self) -> tuple[type, Callable[[Any], Any]]:
        module = importlib.import_module(self.module)
        return getattr(module, self.config), module.run


STAGES: Registry[Stage] = Registry("stage")
STAGES.register("corpus")(Stage("jaforge.corpus", "CorpusConfig",
                                "web/HTML/JSONL text → Japanese filters, dedup, PII masking → shards"))
STAGES.register("tokenizer")(Stage("jaforge.tokenizer", "TokenizerConfig",
                                   "train a SentencePiece/BPE tokenizer on every document of the corpus shards"))
STAGES.register("tokenizer-measure")(Stage("jaforge.tokenizer.measure", "MeasureConfig",
                                           "chars/token, fertility, byte-fallback and unknown rates of a tokenizer"))
STAGES.register("tokenizer-sweep")(Stage("jaforge.tokenizer.sweep", "SweepConfig",
                                         "train and measure several vocabulary sizes; table and plots"))
STAGES.register("tokenizer-expand")(Stage("jaforge.tokenizer.expand", "ExpandConfig",
                                          "add Japanese pieces to a base tokenizer, old ids unchanged"))
STAGES.register("tokenize-data")(Stage("jaforge.train.tokenize_data", "TokenizeDataConfig",
                                       "corpus shards → token shards (memmap + index, held-out validation)"))
STAGES.register("pretrain")(Stage("jaforge.train", "PretrainConfig",
                                  "token shards → a pretrained decoder (resumable, torchrun DDP/FSDP)"))
STAGES.register("explore")(Stage("jaforge.explore", "ExploreConfig",
                                 "small-model studies: sweeps under budget rules, fits, report"))
STAGES.register("eval")(Stage("jaforge.eval", "EvalConfig",
                              "k-shot JGLUE scoring (lm-eval parity), JSQuAD generation, perplexity"))
STAGES.register("sft")(Stage("jaforge.sft", "SFTConfig",
                             "instruction tuning (LoRA or full; SFT or DPO) with data mixtures; before/after tables"))
STAGES.register("sft-merge")(Stage("jaforge.sft.merge", "MergeConfig",
                                   "fold an sft run's LoRA adapter into its base model (jaforge + HF)"))
STAGES.register("merge")(Stage("jaforge.merge", "MergeConfig",
                               "merge models (mergekit YAML: linear, TIES, DARE, SLERP, model stock …), lazily"))
STAGES.register("merge-chat-vector")(Stage("jaforge.merge.chat_vector", "ChatVectorConfig",
                                           "θ_cp + α·(θ_chat − θ_base), embedding rows matched by token string"))
STAGES.register("cycleqd")(Stage("jaforge.merge.cycleqd", "CycleQDConfig",
                                 "CycleQD: quality-diversity search over merges of task experts"))
STAGES.register("lifecycle")(Stage("jaforge.lifecycle", "LifecycleConfig",
                                   "the whole pipeline on one config, stage after stage (the main job)"))
STAGES.register("export")(Stage("jaforge.model.export", "ExportConfig",
                                "jaforge model/checkpoint → Hugging Face Llama directory (+ tokenizer)"))
