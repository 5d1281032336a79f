"""From a merge config to the list of output tensors, each with its inputs, depth and parameter scopes.

    plan = plan_merge(cfg, models)       # models: {reference: InputModel}
    for job in plan.jobs: job.name, job.sources, job.base, job.t

`models:` is one slice over every layer of every model (the base added when not listed). A slice
maps layers [a, b) of each source to consecutive output layers; t, the position within the slice
(0 at its first layer, 1 at its last), interpolates gradient parameters. Tensors outside the layers
take t = 0: the embedding is merged from the first slice's models, the final norm and output head
from the last slice's (as mergekit does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from jaforge.errors import ConfigError, InputError
from jaforge.merge.config import MergeConfig, ModelInput, OutputSlice, SliceInput
from jaforge.merge.methods import METHODS, NOT_IMPLEMENTED, MergeMethod
from jaforge.merge.models import InputModel, is_vocabulary_tensor, layer_index
from jaforge.merge.parameters import Scope, check_settings

LAYER_NUMBER = re.compile(r"((?:^|\.)(?:layers|h|blocks|block)\.)(\d+)(\.)")


@dataclass
class Source:
    model: str
    name: str
    """The tensor's name in that model."""
    scopes: list[Scope]
    """This source's own parameter settings first, then the slice's and the global ones."""


@dataclass
class Job:
    name: str
    sources: list[Source]
    base: Optional[str]
    t: float
    shared: list[Scope]


@dataclass
class MergePlan:
    method: MergeMethod
    jobs: list[Job] = field(default_factory=list)
    num_layers: int = 0
    reference: str = ""
    """The model whose config.json the output starts from (the base, else the first input)."""


def renumbered(name: str, layer: int) -> str:
    return LAYER_NUMBER.sub(lambda m: f"{m.group(1)}{layer}{m.group(3)}", name, count=1)


def as_slices(cfg: MergeConfig, models: dict[str, InputModel]) -> list[OutputSlice]:
    """`models:` as one slice over all layers (the base appended when not listed)."""
    if cfg.slices:
        return cfg.slices
    inputs = list(cfg.models)
    if cfg.base_model and cfg.base_model not in [m.model for m in inputs]:
        inputs.append(ModelInput(cfg.base_model))
    return [OutputSlice([SliceInput(m.model, [0, models[m.model].num_layers], m.parameters) for m in inputs])]


def check_slice(where: str, out: OutputSlice, base: Optional[str], method: MergeMethod,
                models: dict[str, InputModel]) -> int:
    """The slice's length in layers, after checking its ranges, its base and its number of inputs."""
    lengths = set()
    for j, source in enumerate(out.sources):
        start, end = source.layer_range[:2]
        available = models[source.model].num_layers
        if not 0 <= start < end <= available:
            raise ConfigError(f"'{where}.sources[{j}].layer_range': [{start}, {end}] is not within the "
                              f"{available} layers of {source.model}")
        lengths.add(end - start)
    if len(lengths) > 1:
        raise ConfigError(f"'{where}': the sources' layer ranges have different lengths {sorted(lengths)}")
    names = [s.model for s in out.sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"'{where}': a model is listed twice")
    if method.needs_base and base not in names:
        raise ConfigError(f"{method.name} needs base_model among the merged models"
                          + (f"; {base} is not in {where}" if base else "; set base_model"))
    if len(names) < method.min_inputs or (method.max_inputs and len(names) > method.max_inputs):
        bound = (f"exactly {method.min_inputs}" if method.min_inputs == method.max_inputs
                 else f"at most {method.max_inputs}" if method.max_inputs else f"at least {method.min_inputs}")
        raise ConfigError(f"{method.name} merges {bound} models (base included); {where} has {len(names)}")
    others = [n for n in names if n != base or not method.uses_base]
    if method.others is not None and len(others) != method.others:
        raise ConfigError(f"{method.name} merges exactly {method.others} models besides the base; "
                          f"{where} has {len(others)}")
    return lengths.pop()


def merge_method(cfg: MergeConfig) -> MergeMethod:
    """The configured method; an unknown or unimplemented one is a config error naming the key."""
    if cfg.merge_method in NOT_IMPLEMENTED:
        raise ConfigError(f"'merge_method': {cfg.merge_method} is a mergekit method that jaforge does not "
                          f"implement; known: {', '.join(METHODS.names())}")
    try:
        return METHODS.get(cfg.merge_method)
    except KeyError as err:
        raise ConfigError(f"'merge_method': {err}") from None


def plan_merge(cfg: MergeConfig, models: dict[str, InputModel]) -> MergePlan:
    method = merge_method(cfg)
    if bool(cfg.models) == bool(cfg.slices):
        raise ConfigError("give exactly one of 'models' and 'slices'")
    slices = as_slices(cfg, models)
    plan = MergePlan(method)
    scopes_global: Scope = ("parameters", cfg.parameters)
    check_settings(method, [scopes_global] + [(f"models[{i}].parameters", m.parameters) for i, m in enumerate(cfg.models)])
    plan.reference = cfg.base_model or slices[0].sources[0].model
    layer_jobs: list[Job] = []
    for index, out in enumerate(slices):
        base = out.base_model or cfg.base_model
        length = check_slice(f"slices[{index}]" if cfg.slices else "models", out, base, method, models)
        slice_scope: Scope = (f"slices[{index}].parameters", out.parameters)
        check_settings(method, [slice_scope] + [(f"slices[{index}].sources[{j}].parameters", s.parameters)
                                             for j, s in enumerate(out.sources)])
        for offset in range(length):
            t = offset / (length - 1) if length > 1 else 1.0
            layer_jobs += _layer_jobs(out, index if cfg.slices else -1, base, offset, plan.num_layers, t,
                                      slice_scope, scopes_global, models)
            plan.num_layers += 1
    first, last = slices[0], slices[-1]
    outside = [n for n in models[plan.reference].names() if layer_index(n) is None]
    pre = [n for n in outside if is_vocabulary_tensor(n) and "embed" in n]
    post = [n for n in outside if n not in pre]
    last_index = len(slices) - 1 if cfg.slices else -1
    plan.jobs = (_outside_jobs(pre, first, 0 if cfg.slices else -1, cfg, scopes_global, models)
                 + layer_jobs + _outside_jobs(post, last, last_index, cfg, scopes_global, models))
    return plan


def _sources(out: OutputSlice, index: int, names: list[str], global_scope: Scope,
             slice_scope: Scope) -> list[Source]:
    """One source per model, its own settings first. A `models:` config is slice 0 whose sources
    are the models in order, so 'slices[0].sources[j]' is written as 'models[j]' there."""
    label = "models[{j}].parameters" if index < 0 else f"slices[{index}].sources[{{j}}].parameters"
    return [Source(s.model, name, [(label.format(j=j), s.parameters), slice_scope, global_scope])
            for j, (s, name) in enumerate(zip(out.sources, names))]


def _layer_jobs(out: OutputSlice, index: int, base: Optional[str], offset: int, out_layer: int, t: float,
                slice_scope: Scope, global_scope: Scope, models: dict[str, InputModel]) -> list[Job]:
    first = out.sources[0]
    layer = first.layer_range[0] + offset
    jobs = []
    for name in [n for n in models[first.model].names() if layer_index(n) == layer]:
        names = [renumbered(name, s.layer_range[0] + offset) for s in out.sources]
        for s, n in zip(out.sources, names):
            if not models[s.model].has(n):
                raise InputError(models[s.model].path, f"has no tensor '{n}' (present in {first.model})")
        jobs.append(Job(renumbered(name, out_layer), _sources(out, index, names, global_scope, slice_scope),
                        base, t, [slice_scope, global_scope]))
    return jobs


def _outside_jobs(names: list[str], out: OutputSlice, index: int, cfg: MergeConfig, global_scope: Scope,
                  models: dict[str, InputModel]) -> list[Job]:
    slice_scope: Scope = (f"slices[{max(index, 0)}].parameters", out.parameters)
    base = out.base_model or cfg.base_model
    jobs = []
    for name in names:
        for s in out.sources:
            if not models[s.model].has(name):
                raise InputError(models[s.model].path, f"has no tensor '{name}'")
        jobs.append(Job(name, _sources(out, index, [name] * len(out.sources), global_scope, slice_scope),
                        base, 0.0, [slice_scope, global_scope]))
    return jobs
