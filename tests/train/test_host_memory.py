"""keep_freed_memory: after it, re-allocating a freed multi-MiB buffer touches no fresh pages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")

PROGRAM = """
import json, resource, sys
import torch
from jaforge.train.host_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():  # three live 8 MiB buffers, like a step's activations; all freed at its end
    a, b = torch.ones(1024, 2048), torch.ones(1024, 2048)
    (a + b).sum()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):  # warm-up: the heap settles at its peak in the first few steps
    step()
per_step = []
for _ in range(20):
    before = faults()
    step()
    per_step.append(faults() - before)
print(json.dumps(per_step))
"""


def _page_faults_per_step(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_buffers_are_reused_without_page_faults():
    default, kept = _page_faults_per_step("default"), _page_faults_per_step("keep")
    # glibc unmaps or trims the freed buffers, so most steps fault their pages in again (its
    # adaptive mmap threshold spares a step now and then)
    assert sum(1 for f in default if f > 0) >= 5, default
    # kept: the same pages serve every step; allow one late heap growth (one 8 MiB buffer)
    assert sum(1 for f in kept if f > 0) <= 1, kept
    assert sum(kept) < sum(default) / 10, (kept, default)
