"""Where a config's relative paths point: one rule for every stage and recipe.

A config field that names something to read is declared `InputPath` (or a list of them):

    input: list[InputPath] = field(default_factory=list)   # corpus shards: files, folders, globs

A relative input path in a config file (a stage preset or a pipeline recipe) is looked up, in
order: relative to that file's folder; then, if it starts with `data/`, in jaforge's embedded data
(`jaforge.data.data_dir()`), so a recipe copied anywhere still finds `data/ja/clean`; then relative
to the working directory (where outputs of earlier runs, `runs/…`, usually are). Values given on
the command line are relative to the working directory, as for any command. Output directories
are never resolved: they are relative to the working directory, where a run is started. Every
input path is checked before a stage (or a whole pipeline) starts; a missing one is an error that
names its key.
"""

from __future__ import annotations

import dataclasses
import glob
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from jaforge.data import data_dir
from jaforge.errors import MissingInputError


class _Role:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


INPUT = _Role("InputPath")
InputPath = Annotated[str, INPUT]
"""A config value naming a file, folder or glob the stage reads."""
MODEL = _Role("ModelPath")
ModelPath = Annotated[str, MODEL]
"""A model directory the stage reads, or mergekit's `<model>+<LoRA adapter directory>`: each part
an input path (resolved and checked like one)."""

EMBEDDED_PREFIX = "data/"
_REFERENCE_MARK = "${"


def _role(tp: Any) -> Optional[_Role]:
    if typing.get_origin(tp) is not Annotated:
        return None
    return next((a for a in typing.get_args(tp)[1:] if a is INPUT or a is MODEL), None)


def split_model_reference(value: str, base_dir: Optional[Path] = None) -> tuple[str, Optional[str]]:
    """(model, adapter) of a `ModelPath` value: a path that exists (as given, or relative to
    `base_dir`, the config file's folder) is a model alone; otherwise `<model>+<adapter>` splits
    at its first '+' (adapter None without one)."""
    if "+" not in value or _exists(value) or (base_dir is not None and _exists(str(base_dir / value))):
        return value, None
    model, adapter = value.split("+", 1)
    return model, adapter


def _parts(role: _Role, value: str, base_dir: Optional[Path] = None) -> list[str]:
    if role is INPUT:
        return [value]
    return [part for part in split_model_reference(value, base_dir) if part is not None]


def _unwrap(tp: Any) -> Any:
    """Optional[X] → X; Annotated[X, …] (not an input marker) → X."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    if typing.get_origin(tp) is Annotated and _role(tp) is None:
        return _unwrap(typing.get_args(tp)[0])
    return tp


def resolve_path(value: str, base_dir: Path) -> str:
    """`value` relative to `base_dir`, or in the embedded data, or as given (see the module doc)."""
    if not value or _REFERENCE_MARK in value or Path(value).is_absolute():
        return value
    local = base_dir / value
    if local.exists() or glob.glob(str(local)):
        return str(local)
    if value.startswith(EMBEDDED_PREFIX):
        try:
            embedded = data_dir() / value[len(EMBEDDED_PREFIX):]
        except FileNotFoundError:
            return value
        if embedded.exists() or glob.glob(str(embedded)):
            return str(embedded)
    return value


def _resolve_value(tp: Any, value: Any, base_dir: Path) -> Any:
    tp = _unwrap(tp)
    if _role(tp) and isinstance(value, str):
        return "+".join(resolve_path(part, base_dir) for part in _parts(_role(tp), value, base_dir))
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return resolve_paths(tp, value, base_dir)
    if typing.get_origin(tp) is list and isinstance(value, list) and typing.get_args(tp):
        return [_resolve_value(typing.get_args(tp)[0], v, base_dir) for v in value]
    return value


def resolve_paths(cls: type, data: dict, base_dir: Path) -> dict:
    """Config data (for dataclass `cls`) with its relative input paths resolved against `base_dir`."""
    if not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(cls, include_extras=True)
    return {k: _resolve_value(hints[k], v, base_dir) if k in hints else v for k, v in data.items()}


def _resolved_in_place(tp: Any, value: Any) -> Any:
    tp = _unwrap(tp)
    if _role(tp) and isinstance(value, str):
        return "+".join(part if _exists(part) else resolve_path(part, Path.cwd())
                        for part in _parts(_role(tp), value))
    if dataclasses.is_dataclass(value):
        resolve_given_paths(value)
        return value
    if isinstance(value, list) and typing.get_origin(tp) is list and typing.get_args(tp):
        return [_resolved_in_place(typing.get_args(tp)[0], v) for v in value]
    return value


def resolve_given_paths(cfg: Any) -> Any:
    """Input paths of a built config that name nothing from the working directory, looked up in
    the embedded data (`data/…`): defaults and command-line values follow the same rule as file
    values. Changes `cfg` in place and returns it."""
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        resolved = _resolved_in_place(hints[f.name], value)
        if resolved is not value:
            setattr(cfg, f.name, resolved)
    return cfg


def _exists(value: str) -> bool:
    return Path(value).exists() or bool(glob.glob(value))


def missing_inputs(cfg: Any, where: str = "") -> list[tuple[str, str]]:
    """(dotted key, path) for every input path of a built config that names nothing."""
    missing = []
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        key = f"{where}.{f.name}" if where else f.name
        missing += _missing_in(hints[f.name], getattr(cfg, f.name), key)
    return missing


def _missing_in(tp: Any, value: Any, key: str) -> list[tuple[str, str]]:
    tp = _unwrap(tp)
    if value is None:
        return []
    if _role(tp):
        if not value or _REFERENCE_MARK in value:
            return []
        return [(key, part) for part in _parts(_role(tp), value) if not _exists(part)]
    if dataclasses.is_dataclass(value):
        return missing_inputs(value, key)
    if isinstance(value, list) and typing.get_origin(tp) is list and typing.get_args(tp):
        return [m for i, v in enumerate(value) for m in _missing_in(typing.get_args(tp)[0], v, f"{key}[{i}]")]
    return []


def check_input_paths(cfg: Any, where: str = "", source: str = "") -> None:
    """Fail, naming the key and the path, when an input of `cfg` does not exist."""
    missing = missing_inputs(cfg, where)
    if missing:
        origin = f" in {source}" if source else ""
        shown = "; ".join(f"'{key}': {path}" for key, path in missing[:5])
        raise MissingInputError(f"input not found{origin}: {shown}")
