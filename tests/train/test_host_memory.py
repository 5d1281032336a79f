"""keep_freed_memory: after it, re-allocating a freed multi-MiB buffer touches no fresh pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")

PROGRAM = """
import resource, sys
import torch
from jaforge.train.host_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():  # three live 8 MiB buffers, like a step's activations; all freed at its end
    a, b = torch.ones(1024, 2048), torch.ones(1024, 2048)
    (a + b).sum()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def test_freed_buffers_are_reused_without_page_faults():
    default, kept = _page_faults("default"), _page_faults("keep")
    assert default > 20 * 2000  # glibc trims the freed heap top, so each step faults its pages in again
    assert kept < 200
