"""Training state on disk without pickle: nested state (optimiser and schedule state dicts, RNG
states) as `<name>.safetensors` (every tensor) + `<name>.json` (everything else).

    write_state(directory, "trainer_state", {"optimizer": opt.state_dict(), "step": 100})
    state = read_state(directory, "trainer_state")

Reading runs no code from the files: safetensors holds raw tensor bytes and JSON holds plain
values. The JSON tree marks what plain JSON cannot say: `{"__tensor__": key}` (a tensor in the
safetensors file), `{"__tuple__": [...]}`, `{"__items__": [[key, value], …]}` (a dict with
non-string keys, e.g. an optimiser state keyed by parameter index). Python, numpy and torch (and
CUDA) RNG states round-trip exactly through `rng_state` / `set_rng_state`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from jaforge.errors import InputError, input_errors
from jaforge.io.atomic import write_bytes, write_text

TENSOR, TUPLE, ITEMS, BYTES = "__tensor__", "__tuple__", "__items__", "__bytes__"


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous()
        return {TENSOR: key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return {BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {TUPLE: [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not _is_marker(value):
            return {k: _encode(v, tensors) for k, v in value.items()}
        return {ITEMS: [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in training state without pickle")


def _is_marker(value: dict) -> bool:
    return any(k in (TENSOR, TUPLE, ITEMS, BYTES) for k in value)


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if TENSOR in value:
        return tensors[value[TENSOR]]
    if TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[TUPLE])
    if ITEMS in value:
        return {_hashable(_decode(k, tensors)): _decode(v, tensors) for k, v in value[ITEMS]}
    if BYTES in value:
        return base64.b64decode(value[BYTES])
    return {k: _decode(v, tensors) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def write_state(directory: str | Path, name: str, state: Any) -> list[Path]:
    """Write `<name>.json` (and `<name>.safetensors` when the state holds tensors); the paths."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors)
    written = [write_text(directory / f"{name}.json", json.dumps(tree) + "\n")]
    if tensors:
        written.append(write_bytes(directory / f"{name}.safetensors", save(tensors)))
    return written


@contextlib.contextmanager
def safetensors_errors(path: str | Path, what: str) -> Iterator[None]:
    """input_errors that also knows safetensors' own error (a truncated or corrupt file)."""
    from safetensors import SafetensorError

    with input_errors(path, what):
        try:
            yield
        except SafetensorError as err:  # not one of the read errors input_errors knows
            raise ValueError(str(err)) from None


def read_tensors(path: str | Path, what: str = "a safetensors file") -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; a missing, truncated or corrupt file is an InputError."""
    from safetensors.torch import load_file

    with safetensors_errors(path, what):
        return load_file(str(path))


def read_state(directory: str | Path, name: str) -> Any:
    """The state `write_state` wrote (tensors on the CPU)."""
    directory = Path(directory)
    path = directory / f"{name}.json"
    with input_errors(path, "training state (JSON)"):
        tree = json.loads(path.read_text("utf-8"))
    weights = directory / f"{name}.safetensors"
    tensors = read_tensors(weights, "training state tensors") if weights.exists() else {}
    try:
        return _decode(tree, tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(path, f"does not describe training state ({type(err).__name__}: {err})") from None


def rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch (and CUDA) RNG states."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(internal), gauss],
             "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
