"""One run writes an output folder at a time (SPEC §6), like git's ``index.lock`` but released by the kernel.

A whole run holds an exclusive ``flock`` on ``OUT/.ipmix.lock`` for its lifetime. Shards of one run
(``--shard I/N``) must write into the same OUT at once, so each holds a *shared* lock on ``.ipmix.lock`` (which
keeps whole runs, merges and verifications out) plus an exclusive lock on its own ``.ipmix-shard-I-of-N.lock``
(which keeps a second copy of the same shard out). A shard checks its settings against its siblings' while
holding the exclusive ``.ipmix-setup.lock``, so two shards starting at once cannot both believe they are first.
The kernel releases every lock when its process dies, so a killed run never leaves OUT locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from contextlib import contextmanager
from typing import Iterator

from ..errors import UsageError
from .folder import FolderError, SafeFolder, clean_relative, refuse_shared_file

RUN_LOCK = ".ipmix.lock"
SETUP_LOCK = ".ipmix-setup.lock"
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class LockHeld(UsageError):
    """Another ipmix process is writing the folder; the message names it and what to do."""


def shard_lock_name(shard: tuple[int, int]) -> str:
    return f".ipmix-shard-{shard[0]}-of-{shard[1]}.lock"


class _LockFile:
    def __init__(self, folder: SafeFolder, name: str):
        clean_relative(name)
        self.name = name
        try:
            self.fd = os.open(folder.path / name, _OPEN_FLAGS, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise FolderError(error.errno, f"{folder.path / name} is a symbolic link; remove it") from None
            raise FolderError(error.errno, f"cannot create the lock file {folder.path / name}: {error.strerror}")
        self.path = str(folder.path / name)

    def try_lock(self, operation: int) -> bool:
        try:
            fcntl.flock(self.fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def wait_lock(self, operation: int) -> None:
        fcntl.flock(self.fd, operation)

    def unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def stamp(self) -> None:
        """Write this process's pid and host into the lock file, for the message another run shows (never
        into a file with another name: see :func:`refuse_shared_file`). A stamp that cannot be written (a full
        disk) only leaves that message vaguer: the lock is held, and the run says what fails when it writes."""
        refuse_shared_file(self.fd, self.path)
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass

    def holder(self) -> str:
        try:
            pid, _, host = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
        except OSError:
            return ""
        if not pid.isdigit():
            return ""
        here = not host or host == socket.gethostname()
        if here and not _alive(int(pid)):  # a stamp a finished run left: the holder now is another process
            return ""
        return f"pid {pid}" + ("" if here else f" on {host}")

    def close(self) -> None:
        os.close(self.fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _holders(folder: SafeFolder, run_lock: _LockFile) -> str:
    """Who holds the run lock: its stamp, or the stamps of the shard locks currently held."""
    names = []
    for name, _ in folder.walk(recursive=False):
        if name.startswith(".ipmix-shard-") and name.endswith(".lock"):
            probe = _LockFile(folder, name)
            try:
                if not probe.try_lock(fcntl.LOCK_SH):
                    names.append(probe.holder() or "a shard")
                else:
                    probe.unlock()
            finally:
                probe.close()
    if names:
        return "shard runs (" + ", ".join(sorted(set(names))) + ")"
    holder = run_lock.holder()
    return f"another ipmix run ({holder})" if holder else "another ipmix process (a run, or a verify)"


@contextmanager
def hold_folder(
    folder: SafeFolder, shard: tuple[int, int] | None = None, what: str = "writing", wait: bool = False
) -> Iterator[None]:
    """Hold the folder for a whole run (``shard`` None) or for one shard of a run; :class:`LockHeld` at once
    when another process holds it (a second run into one OUT is a mistake to report). With ``wait`` (whole
    runs only; the built-in mixing set's repairs, which two runs may start at once), wait for it instead."""
    run_lock = _LockFile(folder, RUN_LOCK)
    held: list[_LockFile] = [run_lock]
    try:
        if shard is None:
            if wait:
                run_lock.wait_lock(fcntl.LOCK_EX)
            elif not run_lock.try_lock(fcntl.LOCK_EX):
                raise LockHeld(
                    f"{_holders(folder, run_lock)} is {what} {folder.path}; wait for it to finish or stop it"
                )
            run_lock.stamp()
        else:
            if not run_lock.try_lock(fcntl.LOCK_SH):
                raise LockHeld(f"{_holders(folder, run_lock)} is using {folder.path}; wait for it to finish")
            own = _LockFile(folder, shard_lock_name(shard))
            held.append(own)
            if not own.try_lock(fcntl.LOCK_EX):
                who = own.holder()
                raise LockHeld(
                    f"shard {shard[0]}/{shard[1]} is already being written into {folder.path}"
                    f"{f' ({who})' if who else ''}; wait for it to finish"
                )
            own.stamp()
        yield
    finally:
        for lock in reversed(held):
            lock.close()  # closing the descriptor releases its flock


def shard_is_running(folder: SafeFolder, shard: tuple[int, int]) -> bool:
    """Whether a process (not this one's own shard: call it for others only) holds shard ``shard``'s lock now.
    Nothing is created: a shard that never ran has no lock file."""
    try:
        fd = os.open(folder.path / shard_lock_name(shard), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@contextmanager
def setup_section(folder: SafeFolder) -> Iterator[None]:
    """A short critical section for shards of one run that read and write their shared bookkeeping."""
    try:
        lock = _LockFile(folder, SETUP_LOCK)
    except FolderError as error:
        raise UsageError(f"{error.strerror or error} (the lock the shards of a run share)") from None
    try:
        lock.wait_lock(fcntl.LOCK_EX)
        yield
    finally:
        lock.close()
