"""Fixtures of the benchmark tests: load a benchmark script as a module once its peers import."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def load_benchmark():
    """`load_benchmark(script, *requires)`: benchmarks/<script>.py as a module; skips the test
    when a module in `requires` (the benchmark's peer or an extra) is not installed."""
    return _load


def _load(script: str, *requires: str) -> ModuleType:
    for module in requires:
        pytest.importorskip(module, reason=f"{module} (needed by benchmarks/{script}.py) is not installed")
    spec = importlib.util.spec_from_file_location(f"{script}_bench", REPO / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # executor tasks and workers are pickled by module name
    spec.loader.exec_module(module)
    return module
