"""Merge parameters as mergekit writes them: a number, a gradient over depth, or `{filter, value}`
conditions by tensor name; looked up from a model's own settings to the slice's to the global ones.

    value_at(0.5, "model.layers.3.mlp.up_proj.weight", t=0.4, kind=float, where="parameters.weight")
    value_at([0.0, 1.0], …, t=0.25) == 0.25             # linear interpolation over the layers
    value_at([{"filter": "mlp", "value": 0.2}, {"value": 0.7}], "….mlp.up_proj.weight", …) == 0.2
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from jaforge.errors import ConfigError
from jaforge.merge.methods import REQUIRED, MergeMethod, Param
from jaforge.registry import did_you_mean

Scope = tuple[str, Optional[dict[str, Any]]]
"""(where the settings are written, e.g. 'models[1].parameters'; the settings or None)."""


def _scalar(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise ConfigError(f"'{where}': expected {kind.__name__}, got {value!r}")


def _is_condition(item: Any) -> bool:
    return isinstance(item, dict) and "value" in item and set(item) <= {"value", "filter"}


def value_at(setting: Any, tensor_name: str, t: float, kind: type, where: str) -> Any:
    """The value of one setting for a tensor at depth t ∈ [0, 1]; None when no condition matches."""
    if setting is None:
        return None
    if isinstance(setting, dict):
        if not _is_condition(setting):
            raise ConfigError(f"'{where}': a condition is {{filter: <part of a tensor name>, value: …}}, "
                              f"got {setting!r}")
        setting = [setting]
    if isinstance(setting, (bool, int, float, str)):
        return _scalar(setting, kind, where)
    if not isinstance(setting, list):
        raise ConfigError(f"'{where}': expected a number, a list or {{filter, value}} conditions, got {setting!r}")
    if not setting:
        return None
    if all(isinstance(v, (bool, int, float, str)) for v in setting):
        values = [_scalar(v, kind, f"{where}[{i}]") for i, v in enumerate(setting)]
        if kind is not float:
            return values[int(t * (len(values) - 1))]
        position = t * (len(values) - 1)
        low = int(position)
        high = min(len(values) - 1, low + 1)
        return (1 - (position - low)) * values[low] + (position - low) * values[high]
    for i, condition in enumerate(setting):
        if not _is_condition(condition):
            raise ConfigError(f"'{where}[{i}]': expected {{filter, value}}, got {condition!r}")
        pattern = condition.get("filter")
        if pattern is None or pattern == "*" or str(pattern) in tensor_name:
            return value_at(condition["value"], tensor_name, t, kind, f"{where}[{i}].value")
    return None


def resolve(param: Param, scopes: Sequence[Scope], tensor_name: str, t: float, owner: str = "") -> Any:
    """The first value any scope gives for `param` (most specific scope first), else its default."""
    for where, settings in scopes:
        if settings and param.name in settings:
            value = value_at(settings[param.name], tensor_name, t, param.kind, f"{where}.{param.name}")
            if value is not None:
                return value
    if param.default is REQUIRED:
        whose = f" of {owner}" if owner else ""
        raise ConfigError(f"the merge needs parameter '{param.name}'{whose} for tensor '{tensor_name}'; "
                          f"set it under the model's parameters or the global parameters")
    return param.default


def check_settings(method: MergeMethod, scopes: Sequence[Scope]) -> None:
    """Refuse parameters the method does not know (a typo would otherwise be ignored) and values of
    the wrong form, in every scope, before any tensor is read."""
    params = {p.name: p for p in method.params}
    for where, settings in scopes:
        if settings is not None and not isinstance(settings, dict):
            raise ConfigError(f"'{where}': expected a mapping of parameters, got {settings!r}")
        for name, setting in (settings or {}).items():
            if name not in params:
                raise ConfigError(f"'{where}.{name}': {method.name} has no parameter '{name}'"
                                  f"{did_you_mean(name, list(params))} (known: {', '.join(params) or 'none'})")
            _check_form(setting, params[name].kind, f"{where}.{name}")


def _check_form(setting: Any, kind: type, where: str) -> None:
    if isinstance(setting, dict):
        setting = [setting]
    if isinstance(setting, list) and setting and not all(isinstance(v, (bool, int, float, str)) for v in setting):
        for i, condition in enumerate(setting):
            if not _is_condition(condition):
                raise ConfigError(f"'{where}[{i}]': expected {{filter, value}}, got {condition!r}")
            _check_form(condition["value"], kind, f"{where}[{i}].value")
        return
    for t in (0.0, 1.0):
        value_at(setting, "", t, kind, where)
