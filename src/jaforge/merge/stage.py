"""The merge stage: `jaforge merge --config merge.yaml` (jaforge's keys or a mergekit recipe).

    jaforge merge --config recipes/merge-ties.yaml
    jaforge merge --config my-mergekit.yml --output_dir runs/merged     # a mergekit recipe, unchanged

Opens every input (HF or jaforge directories), plans the output tensors, runs the preflight (the
vocabularies compared, or rows aligned by token string with `tokenizer.source`; the catalogue's
warnings on architectures, vocabularies and licences; the card's licence settled), merges tensor
by tensor into safetensors shards and writes config.json, the tokenizer, README.md (model card,
jaforge.merge.card) and result.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional

import torch
import yaml

from jaforge.catalog import plan_warnings
from jaforge.config import to_dict, validate
from jaforge.errors import ConfigError
from jaforge.merge.card import MergeFacts, merge_licence, write_card
from jaforge.merge.config import MergeConfig
from jaforge.merge.engine import MergeStats, execute, parse_dtype
from jaforge.merge.methods import MaskFn
from jaforge.merge.models import InputModel
from jaforge.merge.output import check_output_dir, copy_tokenizer_files, remove_stale_weights, write_hf_config
from jaforge.merge.plan import MergePlan, merge_method, plan_merge
from jaforge.merge.tensors import shard_names
from jaforge.merge.vocab import VocabularyPlan, check_vocabularies, plan_vocabulary
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

log = logging.getLogger(__name__)
JAFORGE_KEYS = ("seed", "max_shard_bytes", "model_card", "card", "output_dir")


def referenced(cfg: MergeConfig) -> list[str]:
    """Every model the config names, in order of appearance (base first)."""
    names = [cfg.base_model] if cfg.base_model else []
    names += [m.model for m in cfg.models]
    for out in cfg.slices:
        names += ([out.base_model] if out.base_model else []) + [s.model for s in out.sources]
    return list(dict.fromkeys(names))


def tokenizer_source(cfg: MergeConfig) -> Optional[str]:
    if cfg.tokenizer_source and cfg.tokenizer:
        raise ConfigError("give either 'tokenizer_source' or 'tokenizer', not both")
    return cfg.tokenizer.source if cfg.tokenizer else cfg.tokenizer_source


def mergekit_recipe(cfg: MergeConfig) -> str:
    """The config in mergekit's YAML (jaforge-only keys and empty values left out)."""
    data = {k: v for k, v in to_dict(cfg).items() if k not in JAFORGE_KEYS and v not in (None, [], {})}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def catalogue_warnings(base: str, others: list[str]) -> list[str]:
    """What the model catalogue says may make the plan doubtful (architecture, licence, vocabulary),
    each said once, logged."""
    found = list(dict.fromkeys(w for other in others or [None] for w in plan_warnings(base, other, "merge")))
    for warning in found:
        log.warning("merge preflight: %s", warning)
    return found


def prepare(cfg: MergeConfig) -> tuple[MergePlan, dict[str, InputModel], Optional[VocabularyPlan], bool]:
    """Open the inputs, plan the tensors and settle the vocabulary (preflight or alignment)."""
    models = {ref: InputModel.open(ref) for ref in referenced(cfg)}
    plan = plan_merge(cfg, models)
    base = cfg.base_model or plan.reference
    catalogue_warnings(base, [ref for ref in models if ref != base])
    source = tokenizer_source(cfg)
    if source is None:
        return plan, models, None, check_vocabularies(models)
    pad = cfg.tokenizer.pad_to_multiple_of if cfg.tokenizer else None
    base = cfg.base_model or plan.reference
    return plan, models, plan_vocabulary(models, base, source, pad), True


def run(cfg: MergeConfig) -> StageResult:
    """Merge the configured models into cfg.output_dir (an HF directory)."""
    return merge(cfg)


def merge(cfg: MergeConfig, masks: Optional[Callable[[str], MaskFn]] = None) -> StageResult:
    """`run`, with DARE's masks replaceable (tensor name → mask function) for parity checks."""
    validate(cfg)
    merge_method(cfg)  # before any model file is read
    dtype, out_dtype = parse_dtype(cfg.dtype, "dtype"), parse_dtype(cfg.out_dtype, "out_dtype")
    started = time.perf_counter()
    plan, models, vocabulary, compared = prepare(cfg)
    out = Path(cfg.output_dir)
    check_output_dir(out, [m.path for m in models.values()])
    licence = merge_licence(cfg.card, [m.path for m in models.values()]) if cfg.model_card else None
    with open_run(out, "merge", cfg):
        stats = execute(plan, models, out, dtype, out_dtype, vocabulary, cfg.seed, cfg.max_shard_bytes, masks)
        remove_stale_weights(out, shard_names(stats.shards))
        reference = models[plan.reference]
        written = out_dtype or dtype or reference.files.info(reference.files.names()[0]).dtype
        original_layers = reference.num_layers
        write_hf_config(out, reference.config, written if written.is_floating_point else torch.float32,
                        vocab_size=vocabulary.rows if vocabulary else None,
                        num_layers=plan.num_layers if plan.num_layers != original_layers else None)
        copy_tokenizer_files(vocabulary.tokenizer_dir if vocabulary else reference.tokenizer_dir, out,
                             tokenizer=vocabulary.tokenizer if vocabulary and vocabulary.added else None,
                             chat_template=cfg.chat_template, extra_from=reference.path)
        if licence is not None:
            write_card(out, cfg.card, licence, MergeFacts(
                f"{out.name}: {cfg.merge_method} merge", referenced(cfg), mergekit_recipe(cfg), cfg.merge_method,
                plan.method.paper, parameters=stats.parameters))
        result = _result(cfg, plan, stats, vocabulary, compared, time.perf_counter() - started)
        result.write()
    return result


def _result(cfg: MergeConfig, plan: MergePlan, stats: MergeStats, vocabulary: Optional[VocabularyPlan],
            compared: bool, seconds: float) -> StageResult:
    source = tokenizer_source(cfg)
    vocab_note = (f"aligned by token string ({source}: {len(vocabulary.tokens)} tokens, "
                  f"{len(vocabulary.added)} added)" if vocabulary else
                  "identical" if compared else "not compared (an input has no tokenizer.json)")
    metrics = {"method": cfg.merge_method, "inputs": len(referenced(cfg)), "tensors": stats.tensors,
               "parameters": stats.parameters, "bytes": stats.bytes_written, "shards": stats.shards,
               "layers": plan.num_layers, "vocabulary": vocab_note, "seconds": round(seconds, 3)}
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    summary = (f"Merged {len(referenced(cfg))} models by **{cfg.merge_method}** into `{cfg.output_dir}`\n\n"
               f"| | |\n|---|---|\n{rows}\n")
    outputs = {"model": cfg.output_dir}
    if cfg.model_card:
        outputs["model_card"] = str(Path(cfg.output_dir) / "README.md")
    return StageResult("merge", cfg.output_dir, outputs=outputs, metrics=metrics, summary=summary)
