"""numba's ``njit(cache=True)`` when numba is importable, a plain numpy or Python version otherwise.

Kernels are compiled at their first call, not at import: importing the corruptions stays cheap, and the cache
folder is read when it is needed. Compiled code is cached per user, never beside the installed package:
``NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/ipmix/numba`` (``~/.cache/ipmix/numba``). The kernels are
written so that the fallback gives the same results as the compiled code (the tests compare them); without
numba they are only slower.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

#: ``IPMIX_NO_NUMBA=1`` runs the fallbacks even where numba is installed (the tests compare the two).
HAVE_NUMBA = not os.environ.get("IPMIX_NO_NUMBA") and importlib.util.find_spec("numba") is not None
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where compiled kernels are cached when ``NUMBA_CACHE_DIR`` is not set."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ipmix" / "numba"


def _numba():
    """numba, its cache pointed at :func:`cache_dir`; None without numba."""
    if not HAVE_NUMBA:
        return None
    import numba
    from numba.core import config

    config.CACHE_DIR = str(cache_dir())
    return numba


class Kernel:
    """A function compiled by numba at its first call (or its fallback without numba).

    ``py_func`` is the plain function, ``fallback`` what runs without numba (``py_func`` unless a numpy version
    was given).
    """

    def __init__(self, function, fallback=None):
        self.py_func = function
        self.fallback = fallback if fallback is not None else function
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__
        self._compiled = None

    def __call__(self, *args):
        compiled = self._compiled
        if compiled is None:
            compiled = self._compile()
        return compiled(*args)

    def _compile(self):
        with _LOCK:
            if self._compiled is None:
                numba = _numba()
                if numba is None:
                    self._compiled = self.fallback
                else:
                    try:
                        self._compiled = numba.njit(cache=True, nogil=True)(self.py_func)
                    except RuntimeError:  # no writable cache location: compile in each process instead
                        self._compiled = numba.njit(nogil=True)(self.py_func)
        return self._compiled


def njit(function=None, *, fallback=None):
    """Use as ``@njit`` or ``@njit(fallback=numpy_version)``. A kernel may not call another kernel (numba
    sees only the wrapper): helpers are written inline."""
    if function is None:
        return lambda f: Kernel(f, fallback)
    return Kernel(function, fallback)
