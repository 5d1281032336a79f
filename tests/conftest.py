"""Shared test fixtures: paths to the embedded data, a helper to write small JSONL files and a
loader of the benchmark scripts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def load_benchmark():
    """`load_benchmark(script, *requires)`: benchmarks/<script>.py as a module; skips the test
    when a module in `requires` (the benchmark's peer or an extra) is not installed."""
    return _load_benchmark


def _load_benchmark(script: str, *requires: str) -> ModuleType:
    for module in requires:
        pytest.importorskip(module, reason=f"{module} (needed by benchmarks/{script}.py) is not installed")
    spec = importlib.util.spec_from_file_location(f"{script}_bench", REPO / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # executor tasks and workers are pickled by module name
    spec.loader.exec_module(module)
    return module
