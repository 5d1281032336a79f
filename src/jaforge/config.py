"""Typed configs: YAML files → dataclasses, with dotted command-line overrides.

Each stage declares one dataclass (fields documented in place). `load_config` reads a YAML
preset, applies overrides such as ``--output.format parquet``, checks every key and type, and
fails with an error that names the key (and the file) with a did-you-mean. `save_config` writes
the resolved config into the run directory.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from jaforge.registry import did_you_mean


class ConfigError(ValueError):
    """A config key or value that does not fit the stage's dataclass."""


def build(cls: type, data: Any, where: str = "", source: str = "") -> Any:
    """Build an instance of dataclass `cls` from plain data, checking keys and types."""
    return _coerce(cls, data, where, source)


def _fail(where: str, source: str, message: str) -> ConfigError:
    origin = f" in {source}" if source else ""
    key = f"'{where}'" if where else "the config"
    return ConfigError(f"{key}{origin}: {message}")


def _build_dataclass(cls: type, data: Any, where: str, source: str) -> Any:
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(where, source, f"expected a mapping for {cls.__name__}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise _fail(path, source, f"unknown key{did_you_mean(str(key), list(fields))} "
                        f"known keys here: {', '.join(fields)}")
        kwargs[key] = _coerce(hints[key], value, path, source)
    missing = [n for n, f in fields.items() if n not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _fail(where, source, f"missing required key(s): {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str, source: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, where, source)
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where, source)
            except ConfigError as err:
                errors.append(str(err))
        raise _fail(where, source, f"{value!r} fits none of {tp}")
    if origin is Literal:
        if value not in args:
            choices = [str(a) for a in args]
            raise _fail(where, source, f"{value!r} is not one of {choices}"
                        f"{did_you_mean(str(value), choices)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(where, source, f"expected a list, got {value!r}")
        item = args[0] if args else Any
        return [_coerce(item, v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, source, f"expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(vt, v, f"{where}.{k}", source) for k, v in value.items()}
    return _coerce_scalar(tp, value, where, source)


def _coerce_scalar(tp: Any, value: Any, where: str, source: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise _fail(where, source, f"expected {tp.__name__}, got {value!r}")


def apply_override(data: dict, dotted: str, raw: str) -> None:
    """Set ``data[a][b] = yaml(raw)`` for the dotted key ``a.b`` (creating mappings on the way);
    a number picks an item of a list (``data.sources.0.ratio``)."""
    keys = dotted.split(".")
    node: Any = data
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[_list_index(node, key, dotted)]
        else:
            node = node.setdefault(key, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"'{dotted}': '{key}' is not a mapping or a list")
    value = yaml.safe_load(raw) if isinstance(raw, str) else raw
    if isinstance(node, list):
        node[_list_index(node, keys[-1], dotted)] = value
    else:
        node[keys[-1]] = value


def _list_index(items: list, key: str, dotted: str) -> int:
    if not key.isdigit() or int(key) >= len(items):
        raise ConfigError(f"'{dotted}': '{key}' is not an index of a list of {len(items)} items")
    return int(key)


def load_config(cls: type, path: str | Path | None = None,
                overrides: list[tuple[str, str]] | None = None) -> Any:
    """Read YAML at `path` (optional), apply dotted overrides, and build `cls`."""
    data: dict = {}
    source = ""
    if path is not None:
        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    for dotted, raw in overrides or []:
        apply_override(data, dotted, raw)
        source = f"{source} + overrides" if source and "overrides" not in source else source or "overrides"
    return build(cls, data, source=source)


def to_dict(cfg: Any) -> Any:
    """Plain data (dicts, lists, scalars) for a config dataclass."""
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(cfg), allow_unicode=True, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a config dataclass (for `--help`)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per leaf field: `--a.b (type, default …): doc`."""
    lines = []
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            lines += describe(hints[f.name], key + ".")
            continue
        type_name = getattr(hints[f.name], "__name__", None) or str(hints[f.name]).replace("typing.", "")
        doc = f": {docs[f.name]}" if f.name in docs else ""
        lines.append(f"  --{key} ({type_name}, default {value!r}){doc}")
    return lines
