"""numba's ``njit(cache=True)`` when numba is importable, the plain Python function otherwise.

The kernels decorated here are written so that both give the same results (tests compare them through
``.py_func``); without numba they are only slower. Compiled code is cached per user, never beside the
installed package: ``NUMBA_CACHE_DIR`` defaults to ``$XDG_CACHE_HOME/ipmix/numba`` (``~/.cache/ipmix/numba``),
unless the user set it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """Where compiled kernels are cached when ``NUMBA_CACHE_DIR`` is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ipmix" / "numba"


def _configure_cache() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = str(cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = folder
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba was imported before us: it read its configuration already
        config.CACHE_DIR = folder


_configure_cache()

try:
    import numba as _numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    _numba = None

HAVE_NUMBA = _numba is not None


def njit(function=None, *, fallback=None):
    """``numba.njit(cache=True)`` of ``function``; without numba, ``fallback`` (a numpy version that gives the
    same results, for loops too slow in plain Python) or ``function`` itself.

    Use as ``@njit`` or ``@njit(fallback=numpy_version)``. The compiled kernel keeps the plain function as
    ``.py_func`` and the fallback as ``.fallback``, so tests can compare them.
    """
    if function is None:
        return lambda f: njit(f, fallback=fallback)
    plain = fallback if fallback is not None else function
    if _numba is None:
        plain.py_func = function
        plain.fallback = plain
        return plain
    try:
        compiled = _numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable cache location: compile in each process instead
        compiled = _numba.njit(nogil=True)(function)
    compiled.fallback = plain
    return compiled
