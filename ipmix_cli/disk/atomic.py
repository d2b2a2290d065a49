"""Atomic file writes: a file only ever appears under its final name complete."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
import signal
import socket
import time
from pathlib import Path

TEMP_PREFIX = ".ipmix-tmp-"
#: A temporary that no live process on this host owns is removed at once; one made on another host
#: (shards may share OUT over a network file system) only once it is this old. A live writer renames its
#: temporary milliseconds after making it, so an hour-old one is certainly abandoned.
FOREIGN_TEMPORARY_AGE = 3600.0
_TEMPORARY_NAME = re.compile(re.escape(TEMP_PREFIX) + r"([0-9a-f]{8})-(\d+)-[0-9a-f]+-\d+")
#: Fault injection for the interruption tests: with IPMIX_KILL_AFTER_WRITES=N in the environment, a
#: process kills itself with SIGKILL right after its N-th atomic write, exactly like a hard crash.
_KILL_AFTER = int(os.environ.get("IPMIX_KILL_AFTER_WRITES", "0") or 0)
_writes = 0
# Files get the usual 0666 less the umask (read once, at import, while no other thread can change it);
# os.open applies the umask itself, files made by other means are given FILE_MODE explicitly.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


_temporary_names = itertools.count()
_made_folders: set[Path] = set()
_process_token = ("", 0)  # (token, pid it was made in): a forked child makes its own


def host_tag() -> str:
    """Eight hex digits naming this host, so a sweep can tell its own host's temporaries from others'."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _token() -> str:
    """This process's part of temporary names: host tag, pid and random bits (pids repeat across hosts)."""
    global _process_token
    token, pid = _process_token
    if pid != os.getpid():
        token, pid = f"{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}", os.getpid()
        _process_token = (token, pid)
    return token


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s folder, then rename it into place.

    The temporary name is this process's token and a counter (unique without the random names and
    retries of ``tempfile.mkstemp``), and the file is created with its final permissions, so a write
    costs one open, one write and one rename.
    """
    folder = path.parent
    if folder not in _made_folders:
        folder.mkdir(parents=True, exist_ok=True)
        _made_folders.add(folder)
    temporary, handle = _create_temporary(folder, path.suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _count_write()


def _create_temporary(folder: Path, suffix: str) -> tuple[Path, int]:
    for _ in range(100):
        temporary = folder / f"{TEMP_PREFIX}{_token()}-{next(_temporary_names)}{suffix}"
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # a leftover of an earlier process that had this token: take the next name
            continue
        except FileNotFoundError:  # the folder was removed after it was made
            folder.mkdir(parents=True, exist_ok=True)
    raise OSError(f"could not create a temporary file in {folder}")


def _count_write() -> None:
    global _writes
    _writes += 1
    if _KILL_AFTER and _writes >= _KILL_AFTER:
        os.kill(os.getpid(), signal.SIGKILL)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: Path, recursive: bool = False) -> int:
    """Delete temporary files that their writers abandoned (a crash, a killed worker); returns how many.

    Temporaries of live processes are left alone, so a sweep is safe while other runs or shards write
    into the same folder.
    """
    if not folder.is_dir():
        return 0
    pattern = f"**/{TEMP_PREFIX}*" if recursive else f"{TEMP_PREFIX}*"
    host, now = host_tag(), time.time()
    removed = 0
    for leftover in folder.glob(pattern):
        try:
            if leftover.is_file() and _is_abandoned(leftover, host, now):
                leftover.unlink(missing_ok=True)
                removed += 1
        except OSError:  # renamed or removed by its writer meanwhile
            continue
    return removed


def _is_abandoned(temporary: Path, host: str, now: float) -> bool:
    named = _TEMPORARY_NAME.match(temporary.name)
    if named and named.group(1) == host:
        pid = int(named.group(2))
        if pid == os.getpid():  # ours only if it carries this process's random bits (pids repeat in containers)
            return not temporary.name.startswith(TEMP_PREFIX + _token() + "-")
        return not _owner_is_alive(pid, temporary.stat().st_mtime)
    return now - temporary.stat().st_mtime >= FOREIGN_TEMPORARY_AGE


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
