"""Allocator tuning for worker processes.

glibc returns freed memory at the top of the heap to the system and serves large blocks with fresh
mmaps; each page then faults in again on the next image. On virtual machines a fault costs microseconds,
and an image-sized buffer has hundreds of pages, so that churn can cost more than the augmentation.
Raising the trim and mmap thresholds keeps the pages in the process. This changes how memory is reused,
never what is computed; it is applied only in processes ipmix owns (the CLI and its workers).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_TRIM_BYTES = 32 * 2**20  # keeps a few dozen image buffers' worth of pages, bounds what is retained
_MMAP_BYTES = 16 * 2**20
_done = False


def tune_allocator() -> bool:
    """Raise glibc's trim and mmap thresholds in this process; returns whether it applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES))
    return _done
