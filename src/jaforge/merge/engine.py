"""Run a merge plan tensor by tensor: read each input's tensor, align vocabulary rows, resolve the
parameters at the tensor's depth, apply the method, cast, stream into the output shards.

    stats = execute(plan, models, out_dir, dtype=None, out_dtype=None, vocabulary=None, seed=0)

Only the current tensor of each input and the result are in memory at any time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from jaforge.errors import ConfigError, InputError
from jaforge.merge.methods import Inputs, MaskFn, ParameterError, seeded_mask
from jaforge.merge.models import InputModel, is_vocabulary_tensor
from jaforge.merge.parameters import resolve
from jaforge.merge.plan import Job, MergePlan
from jaforge.merge.tensors import ShardWriter, TensorInfo
from jaforge.merge.vocab import VocabularyPlan

log = logging.getLogger(__name__)

DTYPE_ALIASES = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
                 "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
                 "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                 "float64": torch.float64, "fp64": torch.float64, "double": torch.float64}


def parse_dtype(name: Optional[str], key: str) -> Optional[torch.dtype]:
    if name is None:
        return None
    found = DTYPE_ALIASES.get(str(name).removeprefix("torch."))
    if found is None:
        raise ConfigError(f"'{key}': {name!r} is not a floating dtype; use float32, bfloat16, float16 or float64")
    return found


@dataclass
class MergeStats:
    tensors: int = 0
    parameters: int = 0
    bytes_written: int = 0
    shards: int = 0
    aligned_tensors: int = 0


def output_info(job: Job, models: dict[str, InputModel], dtype: Optional[torch.dtype],
                vocabulary: Optional[VocabularyPlan]) -> TensorInfo:
    """The output tensor's dtype and shape; refuses inputs whose shapes differ."""
    infos = [models[s.model].info(s.name) for s in job.sources]
    aligned = vocabulary is not None and is_vocabulary_tensor(job.name)
    shapes = {info.shape[1:] if aligned else info.shape for info in infos}
    if len(shapes) > 1:
        listed = ", ".join(f"{s.model}: {list(i.shape)}" for s, i in zip(job.sources, infos))
        hint = (" — the vocabularies differ in size; set tokenizer.source: base or union"
                if is_vocabulary_tensor(job.name) and not aligned else "")
        raise InputError(models[job.sources[0].model].path,
                         f"tensor '{job.name}' has different shapes across the inputs ({listed}){hint}")
    out_dtype = infos[0].dtype
    for info in infos[1:]:
        out_dtype = torch.promote_types(out_dtype, info.dtype)
    if dtype is not None and out_dtype.is_floating_point:
        out_dtype = dtype
    shape = (vocabulary.rows, *infos[0].shape[1:]) if aligned else infos[0].shape
    return TensorInfo(out_dtype, tuple(shape))


def compute_dtype(tensors: list[torch.Tensor]) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def read_inputs(job: Job, models: dict[str, InputModel], vocabulary: Optional[VocabularyPlan]) -> list[torch.Tensor]:
    tensors = [models[s.model].read(s.name) for s in job.sources]
    if not all(t.is_floating_point() for t in tensors):
        return tensors
    work = compute_dtype(tensors)
    tensors = [t.to(work) for t in tensors]
    if vocabulary is not None and is_vocabulary_tensor(job.name):
        models_in = [s.model for s in job.sources]
        base = tensors[models_in.index(job.base)] if job.base in models_in else None
        tensors = [vocabulary.align(s.model, t, base) for s, t in zip(job.sources, tensors)]
    return tensors


def merged_tensor(plan: MergePlan, job: Job, tensors: list[torch.Tensor], mask: MaskFn) -> torch.Tensor:
    if not tensors[0].is_floating_point():
        if any(not torch.equal(t, tensors[0]) for t in tensors[1:]):
            raise InputError(job.sources[0].model, f"non-floating tensor '{job.name}' differs between inputs")
        return tensors[0]
    names = [s.model for s in job.sources]
    base_index = names.index(job.base) if job.base in names and plan.method.uses_base else None
    kwargs = {}
    for param in plan.method.params:
        if not param.per_model:
            kwargs[param.argument] = resolve(param, job.shared, job.name, job.t)
            continue
        kwargs[param.argument] = [resolve(param, s.scopes, s.name, job.t, owner=s.model)
                                  for i, s in enumerate(job.sources) if param.with_base or i != base_index]
    try:
        return plan.method.function(Inputs(tensors, base_index, mask), **kwargs)
    except ParameterError as err:
        raise ConfigError(f"{plan.method.name} cannot merge tensor '{job.name}': {err}") from None


def execute(plan: MergePlan, models: dict[str, InputModel], out_dir: Path, dtype: Optional[torch.dtype] = None,
            out_dtype: Optional[torch.dtype] = None, vocabulary: Optional[VocabularyPlan] = None,
            seed: int = 0, max_shard_bytes: int = 5 * 10**9,
            masks: Callable[[str], MaskFn] | None = None) -> MergeStats:
    """Merge every planned tensor into `out_dir`'s safetensors shards (written atomically)."""
    infos = [output_info(job, models, out_dtype or dtype, vocabulary) for job in plan.jobs]
    stats = MergeStats()
    with ShardWriter(out_dir, [(j.name, i) for j, i in zip(plan.jobs, infos)], max_shard_bytes) as writer:
        for job, info in zip(plan.jobs, infos):
            tensors = read_inputs(job, models, vocabulary)
            mask = masks(job.name) if masks else seeded_mask(seed, job.name)
            result = merged_tensor(plan, job, tensors, mask)
            writer.write(job.name, result.to(info.dtype))
            stats.tensors += 1
            stats.parameters += result.numel()
            stats.bytes_written += info.nbytes
            stats.aligned_tensors += int(vocabulary is not None and is_vocabulary_tensor(job.name))
            del tensors, result
        stats.shards = len(writer.names)
    return stats
