"""Atomic file writes: a file only ever appears under its final name complete."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

TEMP_PREFIX = ".ipmix-tmp-"
#: Fault injection for the interruption tests: with IPMIX_KILL_AFTER_WRITES=N in the environment, a
#: process kills itself with SIGKILL right after its N-th atomic write, exactly like a hard crash.
_KILL_AFTER = int(os.environ.get("IPMIX_KILL_AFTER_WRITES", "0") or 0)
_writes = 0
# mkstemp creates files readable by their owner only; outputs get the usual 0666 less the umask instead
# (read once, at import, while no other thread can be changing it)
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s folder, flush it, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            os.fchmod(stream.fileno(), FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _count_write()


def _count_write() -> None:
    global _writes
    _writes += 1
    if _KILL_AFTER and _writes >= _KILL_AFTER:
        os.kill(os.getpid(), signal.SIGKILL)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: Path, recursive: bool = False) -> int:
    """Delete temporary files left by an interrupted run; returns how many."""
    if not folder.is_dir():
        return 0
    pattern = f"**/{TEMP_PREFIX}*" if recursive else f"{TEMP_PREFIX}*"
    removed = 0
    for leftover in folder.glob(pattern):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
