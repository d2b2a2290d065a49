"""The compiled kernels (numba): when a process uses them, where their machine code is cached, and the switch.

Every per-pixel step of the engine has two implementations that give the same bytes: the plain one (numpy and
Pillow, always there, the reference the tests hold the other to) and a compiled one (``engine/kernels.py``,
numba). Which one runs decides nothing about an output, only how fast it is made.

Why not always the compiled one. In a fresh process, importing numba and loading the kernels from the cache
costs about 0.8 s (``import numba`` 0.25 s, the first kernel 0.25 s, the rest 0.3 s), and compiling them into an
empty cache about 10 s (4 s for the augmentations' geometry, tone, patch and blend kernels; PixMix's rounds,
the masks, the mixing picture's scale and cut and the fractal pictures the rest): more than the whole
augmentation work of a small job such as the README's first command (36 copies). So a process starts on the
plain path and, like a skier who rents until the rentals would have bought the skis, switches once the time it
has spent on plain copies reaches the cost of loading (``WARM_SECONDS``), or of compiling when the cache is cold
(``COLD_SECONDS``). A small job never pays for numba; a large one pays once per worker and then runs at the
compiled speed; nothing is compiled twice.

Modes (``IPMIX_KERNELS`` in the environment, read at import; :func:`use` in a process):

- ``auto`` (default): as above;
- ``compiled``: load (or compile) the kernels at once; an error if numba is missing;
- ``plain``: never load numba.

The cache: numba writes machine code to ``$XDG_CACHE_HOME/ipmix/numba`` (else ``~/.cache/ipmix/numba``), never
next to the installed package, unless the user set ``NUMBA_CACHE_DIR`` themselves. Worker processes find
what an earlier process compiled there (numba checks the source file's time stamp and its own version), so a
worker never compiles what is cached. When several processes reach the switch with a cold cache at once, one
compiles (under a file lock) while the others go on with the plain path and look again at their next copy.
If the cache folder cannot be written, the process stays on the plain path.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

MODE_VARIABLE = "IPMIX_KERNELS"
MODES = ("auto", "compiled", "plain")
#: Plain-path seconds after which a process loads kernels that are in the cache (about what loading costs) …
WARM_SECONDS = 0.8
#: … or compiles them when the cache is cold (about what compiling them all costs).
COLD_SECONDS = 10.0


class KernelsUnavailable(RuntimeError):
    """The compiled path was asked for but cannot be had (numba missing, or the cache folder not writable)."""


def cache_folder() -> Path:
    """Where numba's cache of ipmix's kernels lives (``NUMBA_CACHE_DIR`` when the user set it)."""
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ipmix" / "numba"


class _State:
    def __init__(self) -> None:
        mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
        self.mode = mode if mode in MODES else "auto"
        self.kernels: ModuleType | None = None  # the compiled kernels, while the compiled path is in use
        self.loaded: ModuleType | None = None  # the compiled kernels once loaded (kept when switched off)
        self.unavailable: str | None = None  # why the kernels cannot be had, once known
        self.plain_seconds = 0.0
        self.lock = threading.Lock()


_STATE = _State()


def active() -> ModuleType | None:
    """The compiled kernels when the compiled path is in use, else None (the plain path)."""
    return _STATE.kernels


def mode() -> str:
    return _STATE.mode


def use(new_mode: str) -> None:
    """Switch this process to ``new_mode`` (one of :data:`MODES`); ``compiled`` loads or compiles the kernels
    now and raises :class:`KernelsUnavailable` when it cannot."""
    if new_mode not in MODES:
        raise ValueError(f"unknown kernel mode {new_mode!r}; use one of {', '.join(MODES)}")
    with _STATE.lock:
        _STATE.mode = new_mode
        if new_mode == "plain":
            _STATE.kernels = None
        elif new_mode == "compiled":
            _STATE.kernels = _load(wait=True)
        else:
            _STATE.kernels = _STATE.loaded


@contextmanager
def using(new_mode: str) -> Iterator[None]:
    """:func:`use` for the duration of a ``with`` block (tests and benchmarks run both paths side by side)."""
    before = _STATE.mode
    use(new_mode)
    try:
        yield
    finally:
        use(before)


def available() -> bool:
    """Whether this process can have the compiled kernels (numba importable, cache folder writable)."""
    try:
        with _STATE.lock:
            _load(wait=True)
        return True
    except KernelsUnavailable:
        return False


def counted(apply: Callable) -> Callable:
    """Wrap a method's applier: in ``auto`` mode, time its plain runs and switch when they have paid."""

    @functools.wraps(apply)
    def run(*args, **kwargs):
        state = _STATE
        if state.kernels is not None or state.mode == "plain" or state.unavailable is not None:
            return apply(*args, **kwargs)
        if state.mode == "compiled":  # set by IPMIX_KERNELS: loaded at the first copy (an error if it cannot be)
            with state.lock:
                state.kernels = _load(wait=True)
            return apply(*args, **kwargs)
        start = time.perf_counter()
        try:
            return apply(*args, **kwargs)
        finally:
            state.plain_seconds += time.perf_counter() - start
            if state.plain_seconds >= WARM_SECONDS:
                _consider_switching()

    return run


def _consider_switching() -> None:
    state = _STATE
    if state.plain_seconds < (WARM_SECONDS if _warm() else COLD_SECONDS):
        return
    with state.lock:
        if state.mode != "auto" or state.kernels is not None:
            return
        try:
            state.kernels = _load(wait=False)
        except KernelsUnavailable:
            pass  # stays plain (state.unavailable says why)


# --- loading ------------------------------------------------------------------------------------------------


def _kernels_source() -> Path:
    return Path(__file__).with_name("kernels.py")


@functools.lru_cache(maxsize=4)
def _marker_for(folder: Path) -> Path:
    from importlib.metadata import version

    source = _kernels_source().read_bytes()
    stamp = f"{version('numba')}|{sys.version}|".encode()
    return folder / f"ipmix-kernels-{hashlib.sha256(stamp + source).hexdigest()[:16]}.ready"


def _marker() -> Path:
    """A file that says every kernel of this source, Python and numba is in the cache."""
    return _marker_for(cache_folder())


@functools.lru_cache(maxsize=1)
def _numba_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _warm() -> bool:
    """Whether the cache holds the kernels (cheap: no numba import when it does not)."""
    if not _numba_installed():
        return False
    try:
        return _marker().is_file()
    except OSError:
        return False


def _load(wait: bool) -> ModuleType:
    """The compiled kernels module, every kernel loaded from the cache or compiled into it (lock held).

    With ``wait`` False, a cold cache that another process is filling raises :class:`KernelsUnavailable`
    without waiting (the caller stays plain and tries again later)."""
    state = _STATE
    if state.loaded is not None:
        return state.loaded
    if state.unavailable is not None:
        raise KernelsUnavailable(state.unavailable)
    if not _numba_installed():
        state.unavailable = "numba cannot be imported (pip install numba)"
        raise KernelsUnavailable(state.unavailable)
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        state.unavailable = f"the kernel cache {folder} cannot be written: {error.strerror or error}"
        raise KernelsUnavailable(state.unavailable) from None
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))  # before numba's first import, and for children
    import numba.core.config

    if not numba.core.config.CACHE_DIR:  # numba was imported before us: its cache folder is set here
        numba.core.config.CACHE_DIR = str(folder)
    marker = _marker()
    if marker.is_file():  # every kernel is cached: loading writes nothing, so no lock
        from . import kernels

        kernels.compile_all()
    else:
        with _compile_lock(folder, wait) as held:
            if not held:
                raise KernelsUnavailable("another process is compiling the kernels")
            from . import kernels

            kernels.compile_all()
            marker.touch()
    state.loaded = kernels
    return kernels


@contextmanager
def _compile_lock(folder: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on the cache folder while kernels are compiled or loaded; yields whether it is held
    (without ``wait``, False at once when another process holds it)."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks: compile anyway (numba writes its cache files atomically)
        yield True
        return
    with open(folder / ".compile-lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
