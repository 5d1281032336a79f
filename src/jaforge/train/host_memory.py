"""Keep freed host memory in the process for the next step instead of handing it back to the OS.

glibc serves every allocation above its mmap threshold (128 KiB at first, adapting up to 32 MiB)
with a fresh mmap and unmaps it on free, and it trims the heap top after large frees. A CPU
training step allocates and frees the same activation, gradient and logits buffers every step, so
each step touches fresh pages: ~16,000 page faults and 4–7% of a step at ~10M parameters. Raising
both thresholds once lets the next step reuse the same pages (the process keeps its peak heap).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: in practice, never trim the heap top


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for reuse; False (and nothing changed) elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if not done:
        log.debug("mallopt refused the thresholds; host memory is left as the C library manages it")
    return done
