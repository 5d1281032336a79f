"""Typed configs: YAML files → dataclasses, with dotted command-line overrides.

Each stage declares one dataclass (fields documented in place). A field's range is declared once,
next to its type, with `annotated-types` constraints:

    lr: Annotated[float, Gt(0)] = 3e-4   # with the field's docstring below it, as usual

`load_config` reads a YAML preset (a `base:` key names presets it extends), applies overrides
such as ``--output.format parquet``, checks every key, type and range, and fails with an error
that names the key (and the file) with a did-you-mean. YAML is read the way users write it:
`1e-3` is a float, and a key given twice is an error. `save_config` writes the resolved config
into the run directory.
"""

from __future__ import annotations

import ast
import contextvars
import dataclasses
import inspect
import math
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import yaml
from yaml.constructor import ConstructorError

from jaforge.errors import ConfigError
from jaforge.io.atomic import write_yaml
from jaforge.paths import resolve_given_paths, resolve_paths
from jaforge.registry import did_you_mean

__all__ = ["ConfigError", "build", "load_config", "load_yaml", "yaml_value", "save_config",
           "to_dict", "describe", "validate", "apply_override", "deep_merge"]


class _Loader(yaml.SafeLoader):
    """Safe YAML with floats as people write them (`1e-3`, `989.0e12`) and no duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConstructorError(None, None, f"the key '{key}' is given twice "
                                           f"(lines {seen[key]} and {line})", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads `1e-3` as a string (its floats need a dot); YAML 1.2 and every user read a float.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def yaml_value(text: str) -> Any:
    """A YAML scalar or collection from a command-line value (`1e-3` → 0.001, `[a, b]` → list)."""
    return yaml.load(text, Loader=_Loader)


def yaml_error_text(path: str | Path, err: yaml.YAMLError) -> str:
    """`file:line: not valid YAML: what` from a PyYAML error."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = " ".join(str(getattr(err, "problem", None) or err).split())
    context = getattr(err, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({' '.join(context.split())})" if context else "")


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file with jaforge's rules; errors name the file (and line)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.load(stream, Loader=_Loader)
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        raise ConfigError(yaml_error_text(path, err)) from None


def deep_merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A config file as data, with its `base:` presets (a file name or a list of them, relative to
    the file) merged underneath it, in order."""
    path = Path(path)
    if path.resolve() in _chain:
        raise ConfigError(f"{path}: 'base' makes a cycle: {' → '.join(str(p) for p in _chain)}")
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    bases = data.get("base")
    if isinstance(bases, str) or (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        del data["base"]  # a mapping under `base` is a config key of its own (explore's base config)
    else:
        bases = []
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = deep_merge(merged, read_config_file(path.parent / base, _chain + (path.resolve(),)))
    return deep_merge(merged, data)


REFERENCE = re.compile(r"\$\{[^}]+\}")
_references_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("references", default=False)


def build(cls: type, data: Any, where: str = "", source: str = "", references: bool = False) -> Any:
    """Build an instance of dataclass `cls` from plain data, checking keys, types and ranges.

    With `references`, a `${stage.output}` string passes any type check (a pipeline's config
    before the stage it names has run)."""
    token = _references_allowed.set(references)
    try:
        return _coerce(cls, data, where, source)
    finally:
        _references_allowed.reset(token)


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
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise _fail(path, source, f"unknown key{did_you_mean(str(key), list(fields))} "
                        f"(known keys here: {', '.join(fields)})")
        kwargs[key] = _coerce(hints[key], value, path, source)
    missing = [n for n, f in fields.items() if n not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _fail(where, source, f"missing required key(s): {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str, source: str) -> Any:
    if isinstance(value, str) and _references_allowed.get() and REFERENCE.search(value):
        return value
    if typing.get_origin(tp) is Annotated:
        base, *metadata = typing.get_args(tp)
        value = _coerce(base, value, where, source)
        _check_constraints(value, metadata, where, source)
        return value
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, where, source)
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1:
            return _coerce(candidates[0], value, where, source)
        errors = []
        for arg in candidates:
            try:
                return _coerce(arg, value, where, source)
            except ConfigError as err:
                errors.append((arg, err))
        for arg, err in errors:  # the alternative of the value's own type says what is wrong
            base = typing.get_args(arg)[0] if typing.get_origin(arg) is Annotated else arg
            if isinstance(base, type) and isinstance(value, base) and not isinstance(value, bool):
                others = " or ".join(_type_text(a) for a, _ in errors if a is not arg)
                raise ConfigError(f"{err} (or {others})") from None
        raise _fail(where, source, f"{value!r} fits none of {_type_text(tp)}")
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
            if not math.isfinite(value):
                raise _fail(where, source, f"expected a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise _fail(where, source, f"expected {tp.__name__}, got {value!r}")


def _constraints(metadata: list) -> list:
    flat = []
    for item in metadata:
        flat.extend(item if isinstance(item, at.GroupedMetadata) else [item])
    return flat


_BOUNDS = {at.Gt: (">", "gt", lambda v, b: v > b), at.Ge: (">=", "ge", lambda v, b: v >= b),
           at.Lt: ("<", "lt", lambda v, b: v < b), at.Le: ("<=", "le", lambda v, b: v <= b)}


def constraint_text(metadata: list) -> str:
    """`> 0`, `>= 1, <= 100`, `at least 1 item` — a field's declared range, for --help and errors."""
    parts = []
    for c in _constraints(metadata):
        for kind, (symbol, attr, _) in _BOUNDS.items():
            if isinstance(c, kind):
                parts.append(f"{symbol} {getattr(c, attr)}")
        if isinstance(c, at.MinLen):
            parts.append(f"at least {c.min_length} item{'s' if c.min_length != 1 else ''}")
    return ", ".join(parts)


def _check_constraints(value: Any, metadata: list, where: str, source: str) -> None:
    if value is None:
        return
    for c in _constraints(metadata):
        for kind, (_, attr, holds) in _BOUNDS.items():
            if isinstance(c, kind) and not holds(value, getattr(c, attr)):
                raise _fail(where, source, f"{value!r} is out of range: must be {constraint_text(metadata)}")
        if isinstance(c, at.MinLen) and len(value) < c.min_length:
            raise _fail(where, source, f"must have {constraint_text([c])}, got {value!r}")


def validate(cfg: Any, where: str = "", source: str = "") -> None:
    """Check every declared range of a config, defaults included (`load_config` calls it; call it
    for a config built in code)."""
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        if not f.init:
            continue
        value, tp, path = getattr(cfg, f.name), hints[f.name], f"{where}.{f.name}" if where else f.name
        _coerce(tp, to_dict(value), path, source)


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
    try:
        value = yaml_value(raw) if isinstance(raw, str) else raw
    except yaml.YAMLError as err:
        raise ConfigError(f"'--{dotted}': the value {raw!r} is not valid YAML: "
                          f"{' '.join(str(err).split())}") from None
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
        data = resolve_paths(cls, read_config_file(path), Path(path).parent)
    for dotted, raw in overrides or []:
        apply_override(data, dotted, raw)
        source = f"{source} + overrides" if source and "overrides" not in source else source or "overrides"
    cfg = build(cls, data, source=source)
    validate(cfg, source=source)  # the defaults too: a required list left empty is named here
    return resolve_given_paths(cfg)


def to_dict(cfg: Any) -> Any:
    """Plain data (dicts, lists, scalars) for a config dataclass."""
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    write_yaml(path, to_dict(cfg))


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a config dataclass (for `--help`), inherited
    fields included (a subclass's own docstring wins)."""
    docs: dict[str, str] = {}
    for klass in reversed([c for c in cls.__mro__ if dataclasses.is_dataclass(c)]):
        docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
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
    hints = typing.get_type_hints(cls, include_extras=True)
    defaults = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(defaults, f.name)
        tp, metadata = hints[f.name], []
        if typing.get_origin(tp) is Annotated:
            tp, *metadata = typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            lines += describe(tp, key + ".")
            continue
        type_name = _type_text(tp)
        limits = constraint_text(metadata)
        doc = f": {docs[f.name]}" if f.name in docs else ""
        lines.append(f"  --{key} ({type_name}{', ' + limits if limits else ''}, default {value!r}){doc}")
    return lines


def _type_text(tp: Any) -> str:
    """`list[int >= 1]`, `Optional[float > 0]` — a type with its constraints, without `typing.`."""
    if typing.get_origin(tp) is Annotated:
        base, *metadata = typing.get_args(tp)
        return f"{_type_text(base)} {constraint_text(metadata)}".strip()
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return str(tp).replace("typing.", "")
    if args and origin is not None and origin is not Annotated:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        if origin in (Union, types.UnionType):
            name = "Optional" if type(None) in args else "Union"
            args = tuple(a for a in args if a is not type(None))
        return f"{name}[{', '.join(_type_text(a) for a in args)}]"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
