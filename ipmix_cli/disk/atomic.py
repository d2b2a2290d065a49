"""Atomic file writes: a file only ever appears under its final name complete."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import secrets
import signal
import socket
import stat
import time
from pathlib import Path

TEMP_PREFIX = ".ipmix-tmp-"
#: A temporary that no live process on this host owns is removed at once; one made on another host
#: (shards may share OUT over a network file system) only once it is this old. A live writer renames its
#: temporary milliseconds after making it, so an hour-old one is certainly abandoned.
FOREIGN_TEMPORARY_AGE = 3600.0
_TEMPORARY_NAME = re.compile(re.escape(TEMP_PREFIX) + r"([0-9a-f]{8})-(\d+)-[0-9a-f]+-\d+")
#: Fault injection for the interruption tests: with IPMIX_KILL_AFTER_WRITES=N in the environment, the
#: process that makes its N-th atomic write SIGKILLs the whole run (itself and, in a local worker, the driver
#: that started it: see ``set_driver``), exactly like a hard crash of the job.
_KILL_AFTER = int(os.environ.get("IPMIX_KILL_AFTER_WRITES", "0") or 0)
_writes = 0
_driver_pid = 0


def set_driver(pid: int) -> None:
    """In a local worker process: the driver's pid, which the crash-simulation hook kills with the worker."""
    global _driver_pid
    _driver_pid = pid


# Files get the usual 0666 less the umask (read once, at import, while no other thread can change it);
# os.open applies the umask itself, files made by other means are given FILE_MODE explicitly.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


_temporary_names = itertools.count()
_made_folders: set[Path] = set()
_process_token = ("", 0)  # (token, pid it was made in): a forked child makes its own


@functools.lru_cache(maxsize=1)
def host_tag() -> str:
    """Eight hex digits naming this host, so a sweep can tell its own host's temporaries from others'."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def process_token() -> str:
    """This process's unique tag (host, pid, random bits), e.g. for files only it appends to."""
    return _token()


def _token() -> str:
    """This process's part of temporary names: host tag, pid and random bits (pids repeat across hosts)."""
    global _process_token
    token, pid = _process_token
    if pid != os.getpid():
        token, pid = f"{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}", os.getpid()
        _process_token = (token, pid)
    return token


def next_temporary_name() -> str:
    """A temporary file name unique to this process (host tag, pid, random bits, counter), ending in ``.tmp``
    so that no image reader takes a half-written file for a sample."""
    return f"{TEMP_PREFIX}{_token()}-{next(_temporary_names)}.tmp"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s folder, then rename it into place.

    The temporary name is this process's token and a counter (unique without the random names and
    retries of ``tempfile.mkstemp``), and the file is created with its final permissions, so a write
    costs one open, one write and one rename.
    """
    folder = path.parent
    if folder not in _made_folders:
        _make_parents(folder)
        _made_folders.add(folder)
    temporary, handle = _create_temporary(folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    count_write()


def _create_temporary(folder: Path) -> tuple[Path, int]:
    for _ in range(100):
        temporary = folder / next_temporary_name()
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        except FileExistsError:  # a leftover of an earlier process that had this token: take the next name
            continue
        except FileNotFoundError:  # the folder was removed after it was made
            _make_parents(folder)
    raise OSError(f"could not create a temporary file in {folder}")


def _make_parents(folder: Path) -> None:
    """Make ``folder`` as ``folder.make_folder`` does: never a folder off its way (``nonexist/../x.png``)."""
    from .folder import make_folder

    make_folder(folder)


def count_write() -> None:
    """Count one finished write; with IPMIX_KILL_AFTER_WRITES=N the N-th one SIGKILLs the run."""
    global _writes
    _writes += 1
    if _KILL_AFTER and _writes >= _KILL_AFTER:
        if _driver_pid and _driver_pid != os.getpid():
            try:
                os.kill(_driver_pid, signal.SIGKILL)
            except OSError:
                pass
        os.kill(os.getpid(), signal.SIGKILL)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: Path, recursive: bool = False) -> int:
    """Delete temporary files that their writers abandoned (a crash, a killed worker); returns how many.

    Temporaries of live processes are left alone, so a sweep is safe while other runs or shards write
    into the same folder. Symbolic links are never followed.
    """
    if not folder.is_dir():
        return 0
    removed = 0
    for base, folders, files in os.walk(folder):
        if not recursive:
            folders.clear()
        for name in files:
            if not name.startswith(TEMP_PREFIX):
                continue
            leftover = Path(base) / name
            try:
                info = leftover.lstat()
                if stat.S_ISREG(info.st_mode) and is_abandoned(name, info.st_mtime):
                    leftover.unlink(missing_ok=True)
                    removed += 1
            except OSError:  # renamed or removed by its writer meanwhile
                continue
    return removed


def is_abandoned(name: str, written_at: float, now: float | None = None) -> bool:
    """Whether the temporary called ``name``, last written at ``written_at``, has no live writer."""
    named = _TEMPORARY_NAME.match(name)
    if named and named.group(1) == host_tag():
        pid = int(named.group(2))
        if pid == os.getpid():  # ours only if it carries this process's random bits (pids repeat in containers)
            return not name.startswith(TEMP_PREFIX + _token() + "-")
        return not _owner_is_alive(pid, written_at)
    return (time.time() if now is None else now) - written_at >= FOREIGN_TEMPORARY_AGE


def _owner_is_alive(pid: int, written_at: float) -> bool:
    """Whether process ``pid`` is running and could have written a file last modified at ``written_at``.

    A killed worker whose parent died too stays a zombie until some ancestor reaps it, and a container's
    first process may never do so: a zombie exists for ``kill(pid, 0)`` but will never rename anything.
    A process that started after the file was written merely reuses the writer's pid.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        pass
    status = _proc_status(pid)
    if status is None:  # no /proc (not Linux): trust kill()
        return True
    state, started_at = status
    return state not in "ZX" and started_at <= written_at + _START_TIME_SLACK


#: A writer starts before it writes, but /proc's boot time is whole seconds and the wall clock may be stepped
#: (NTP) between a process's start and its write: a temporary counts as a reused pid's only when its writer
#: "started" this much after writing it. Pids are not reused within a minute in practice.
_START_TIME_SLACK = 60.0


def _proc_status(pid: int) -> tuple[str, float] | None:
    """(state letter, start time in seconds since the epoch) of ``pid`` from Linux's /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            fields = stream.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as stream:
            boot = next(int(line.split()[1]) for line in stream if line.startswith(b"btime "))
        return fields[0].decode(), boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None
