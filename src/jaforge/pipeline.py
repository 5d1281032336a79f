"""`jaforge run RECIPE`: stages declared in one YAML file, run in order, finished work skipped.

    jaforge run recipes/lifecycle-tiny.yaml                 # the main job
    jaforge run recipes/lifecycle-tiny.yaml --dry-run       # the plan: what runs, what is skipped
    jaforge run recipes/lifecycle-tiny.yaml --stages.pretrain.trainer.max_steps 50

A recipe names an `output_dir` and a mapping of `stages`, in the order they run (and, for plans,
`plan: {gpus: N}`: the GPUs the dry-run's memory and FLOP estimates assume). Each stage entry is
that stage's config (the keys of `jaforge <stage> --help`), plus three optional keys: `stage` (the
stage to run, when the entry's name is not a stage name), `base` (preset files the entry extends,
relative to the recipe) and `output_dir` (default `<output_dir>/<entry name>`). A value
`${entry.name}` is an output of an earlier entry: one of its named outputs (`${corpus.data}`), one
of its metrics (`${tokens.vocab_size}`) or its `output_dir`; this is also how the order of work is
known.

Every stage is keyed by a hash of its config (references unresolved) and the keys of the stages it
reads from. A stage whose key matches the one recorded when it finished is skipped in
milliseconds; a stage whose config or inputs changed runs again from scratch, with everything
downstream of it; a stage that was running when the pipeline was killed runs again with the same
key, so its own resume (checkpoints, completion markers) continues it. Before the first stage
starts, every stage's config is built and checked (keys, types, ranges, input files), so a mistake
in the last stage stops the run at once. When the stages are done, report.md and report.html
describe the whole run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from jaforge.config import (ConfigError, apply_override, build, deep_merge, read_config_file,
                            validate)
from jaforge.errors import JaforgeError
from jaforge.io.atomic import write_json
from jaforge.paths import check_input_paths, missing_inputs, resolve_paths
from jaforge.stage_result import StageResult
from jaforge.stages import STAGES

log = logging.getLogger(__name__)

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_./-]+)\}")
RESERVED = ("stage", "base", "output_dir")
STATE_FILE = ".jaforge-stage.json"


@dataclass
class PlannedStage:
    name: str
    """The entry's name in the recipe."""
    stage: str
    """The stage it runs (a `jaforge` stage name)."""
    data: dict
    """Its config as data, references still unresolved."""
    output_dir: Path
    inputs: list[str] = field(default_factory=list)
    """The entries it reads from."""
    key: str = ""
    status: str = "run"
    """run (never finished), skip (finished with this key), rerun (finished with another key),
    resume (was running with this key when stopped)."""
    estimates: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    """Input paths not found on this machine (a plan made for a cluster names its paths)."""


@dataclass
class Pipeline:
    recipe: Path
    output_dir: Path
    stages: list[PlannedStage]
    report: bool = True
    gpus: int = 1
    """GPUs the plan's estimates assume (a recipe's `plan: {gpus: N}`; torchrun decides the real number)."""


def references(value: Any) -> list[tuple[str, str]]:
    """Every `${entry.name}` inside a config value (strings, lists, mappings)."""
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def substitute(value: Any, lookup: Callable[[str, str], Any]) -> Any:
    """`value` with references replaced: a whole-string reference keeps the output's type."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole:
            return lookup(*whole.groups())
        return REFERENCE.sub(lambda m: str(lookup(*m.groups())), value)
    if isinstance(value, dict):
        return {k: substitute(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, lookup) for v in value]
    return value


def load_recipe(path: str | Path, overrides: list[tuple[str, str]] = ()) -> Pipeline:
    """Read a recipe, apply `--a.b value` overrides, and lay out its stages (nothing runs)."""
    path = Path(path)
    data = read_config_file(path)
    for dotted, raw in overrides:
        apply_override(data, dotted, raw)
    unknown = sorted(set(data) - {"output_dir", "stages", "report", "plan"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}; a recipe has output_dir, "
                          f"stages, report and plan")
    gpus = (data.get("plan") or {}).get("gpus", 1)
    if not isinstance(gpus, int) or gpus < 1:
        raise ConfigError(f"'plan.gpus' in {path}: expected a whole number of GPUs, got {gpus!r}")
    if not isinstance(data.get("stages"), dict) or not data["stages"]:
        raise ConfigError(f"'stages' in {path}: expected a mapping of stage entries, in order")
    root = Path(data.get("output_dir") or Path("runs") / path.stem)
    planned = [_plan_entry(name, entry, path, root, seen)
               for seen, (name, entry) in _with_seen(data["stages"])]
    return Pipeline(path, root, planned, bool(data.get("report", True)), gpus)


def _with_seen(entries: dict) -> list[tuple[list[str], tuple[str, Any]]]:
    names = list(entries)
    return [(names[:i], (name, entries[name])) for i, name in enumerate(names)]


def _plan_entry(name: str, entry: Any, recipe: Path, root: Path, earlier: list[str]) -> PlannedStage:
    where = f"stages.{name}"
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise ConfigError(f"'{where}' in {recipe}: expected a mapping (the stage's config)")
    stage = entry.get("stage", name)
    if stage not in STAGES:
        STAGES.get(stage)  # raises with the known names and a did-you-mean
    config = {k: v for k, v in entry.items() if k not in RESERVED}
    for base in _bases(entry.get("base"), where, recipe):
        config = deep_merge(read_config_file(recipe.parent / base), config)
    inputs = []
    for target, output in references(config) + references(entry.get("output_dir", "")):
        if target not in earlier:
            raise ConfigError(f"'{where}' in {recipe}: ${{{target}.{output}}} names no earlier stage "
                              f"(earlier: {', '.join(earlier) or 'none'})")
        inputs.append(target)
    output_dir = Path(entry.get("output_dir") or root / name)
    return PlannedStage(name, stage, config, output_dir, sorted(set(inputs)))


def _bases(bases: Any, where: str, recipe: Path) -> list[str]:
    if bases is None:
        return []
    if isinstance(bases, str):
        return [bases]
    if isinstance(bases, list) and all(isinstance(b, str) for b in bases):
        return bases
    raise ConfigError(f"'{where}.base' in {recipe}: expected a preset file or a list of them")


def stage_key(planned: PlannedStage, keys: dict[str, str]) -> str:
    """A hash of the stage, its config and the keys of the stages it reads from."""
    content = {"stage": planned.stage, "config": planned.data,
               "output_dir": str(planned.output_dir), "inputs": {n: keys[n] for n in planned.inputs}}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def recorded_state(output_dir: Path) -> dict:
    try:
        return json.loads((output_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def decide(pipeline: Pipeline) -> None:
    """Key every stage and decide what it needs: skip, run, rerun or resume."""
    keys: dict[str, str] = {}
    changed: set[str] = set()
    for planned in pipeline.stages:
        planned.key = keys[planned.name] = stage_key(planned, keys)
        state = recorded_state(planned.output_dir)
        upstream_changed = any(n in changed for n in planned.inputs)
        if state.get("key") == planned.key and state.get("status") == "done" and not upstream_changed \
                and (planned.output_dir / "result.json").exists():
            planned.status = "skip"
        elif state.get("key") == planned.key and state.get("status") == "running":
            planned.status = "resume"
        elif state:
            planned.status = "rerun"
        else:
            planned.status = "run"
        if planned.status != "skip":
            changed.add(planned.name)


def check(pipeline: Pipeline, strict: bool = True) -> None:
    """Build and validate every stage's config before anything runs. References to stages that
    finished earlier take their recorded values (so the plan's estimates are real); the others
    stay as written. A missing input is an error, or (`strict=False`, a plan for another machine)
    noted in the stage's `missing` list."""
    finished = {p.name: StageResult.read(p.output_dir / "result.json") for p in pipeline.stages
                if p.status == "skip"}

    def known(target: str, output: str) -> Any:
        result = finished.get(target)
        if result is None:
            return f"${{{target}.{output}}}"
        return {"output_dir": result.output_dir, **result.outputs, **result.metrics}.get(
            output, f"${{{target}.{output}}}")

    for planned in pipeline.stages:
        config_cls = STAGES.get(planned.stage).config_class()
        data = resolve_paths(config_cls, substitute(planned.data, known), pipeline.recipe.parent)
        data["output_dir"] = str(planned.output_dir)
        source = f"{pipeline.recipe} (stages.{planned.name})"
        cfg = build(config_cls, data, source=source, references=True)
        if strict:
            check_input_paths(cfg, f"stages.{planned.name}", source)
        planned.missing = [f"{key}: {path}" for key, path in missing_inputs(cfg)]
        planned.estimates = STAGES.get(planned.stage).estimate(cfg, pipeline.gpus)


def stage_config(planned: PlannedStage, results: dict[str, StageResult], recipe: Path) -> Any:
    """The stage's config with every reference replaced by the earlier stage's output."""
    def lookup(target: str, output: str) -> Any:
        result = results[target]
        if output == "output_dir":
            return result.output_dir
        if output in result.outputs:
            return result.outputs[output]
        if output in result.metrics:
            return result.metrics[output]
        known = ["output_dir", *result.outputs, *result.metrics]
        raise ConfigError(f"'stages.{planned.name}' in {recipe}: stage '{target}' has no output "
                          f"'{output}' (it has: {', '.join(known)})")

    config_cls = STAGES.get(planned.stage).config_class()
    data = resolve_paths(config_cls, substitute(planned.data, lookup), recipe.parent)
    data["output_dir"] = str(planned.output_dir)
    cfg = build(config_cls, data, source=f"{recipe} (stages.{planned.name})")
    validate(cfg, source=f"{recipe} (stages.{planned.name})")
    return cfg


def run_stage(planned: PlannedStage, cfg: Any) -> StageResult:
    if planned.status == "rerun":  # another config ran here: start this one from scratch
        log.info("%s: its config or inputs changed; running it again from scratch", planned.name)
        shutil.rmtree(planned.output_dir, ignore_errors=True)
    planned.output_dir.mkdir(parents=True, exist_ok=True)
    write_json(planned.output_dir / STATE_FILE, {"key": planned.key, "status": "running",
                                                 "stage": planned.stage})
    start = time.perf_counter()
    result = STAGES.get(planned.stage).run(cfg)
    result.metrics.setdefault("seconds", round(time.perf_counter() - start, 2))
    result.write(planned.output_dir / "result.json")
    write_json(planned.output_dir / STATE_FILE, {"key": planned.key, "status": "done",
                                                 "stage": planned.stage})
    return result


def execute(pipeline: Pipeline, on_result: Optional[Callable[[str, StageResult, str], None]] = None
            ) -> dict[str, StageResult]:
    """Run (or skip) every stage in order; returns each entry's result."""
    decide(pipeline)
    check(pipeline)
    results: dict[str, StageResult] = {}
    for planned in pipeline.stages:
        if planned.status == "skip":
            results[planned.name] = StageResult.read(planned.output_dir / "result.json")
        else:
            log.info("stage %s (%s): %s", planned.name, planned.stage, planned.status)
            cfg = stage_config(planned, results, pipeline.recipe)
            try:
                results[planned.name] = run_stage(planned, cfg)
            except JaforgeError as err:
                raise type(err)(f"stage '{planned.name}': {err}") if type(err).__init__ is \
                    JaforgeError.__init__ else err
        if on_result is not None:
            on_result(planned.name, results[planned.name], planned.status)
    return results


def plan_table(pipeline: Pipeline) -> str:
    """The plan as Markdown: each stage, what will happen, where it writes, its estimates, and the
    inputs this machine does not have (a plan may be made here for a cluster)."""
    decide(pipeline)
    check(pipeline, strict=False)
    lines = [f"plan for {pipeline.gpus} GPU(s) where a stage trains\n",
             "| stage | runs | status | reads from | output | estimates |", "|---|---|---|---|---|---|"]
    for p in pipeline.stages:
        estimates = ", ".join(f"{k} {_short(v)}" for k, v in p.estimates.items())
        lines.append(f"| {p.name} | {p.stage} | {p.status} | {', '.join(p.inputs) or '–'} | "
                     f"{p.output_dir} | {estimates or '–'} |")
    missing = [f"- {p.name}: {m}" for p in pipeline.stages for m in p.missing]
    if missing:
        lines += ["", "inputs not found on this machine (needed where the pipeline runs):", *missing]
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    if isinstance(value, float) and value >= 1e4:
        return f"{value:.3g}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)
