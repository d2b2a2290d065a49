"""Opening inputs: only inside IN, never blocking (SPEC §6).

The link policy, the same for discovery and ``--files-from``: a symbolic link is read only when it resolves
inside IN. The resolved path is then opened one component at a time with ``O_NOFOLLOW``, so a link swapped in
after the check makes the open fail rather than read outside IN. The file itself is opened with
``O_NONBLOCK`` and must be a regular file: a FIFO or a device named ``x.jpg`` is that input's failure, not a
run that hangs.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from .folder import clean_relative, is_inside

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

#: Folders of IN one batch keeps open at most (see :meth:`InputRoot.held_folders`).
_HELD_FOLDERS = 16


class InputRefused(Exception):
    """An input ipmix will not read (outside IN, not a regular file, gone); the message is the reason."""


def describe_special(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    kinds += ((stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class InputRoot:
    """IN, resolved once; :meth:`open` proves every input it opens lies inside it."""

    def __init__(self, path: str | Path):
        self.given = Path(path)
        self.path = Path(os.path.realpath(path))

    def __reduce__(self):
        return InputRoot, (str(self.given),)

    def resolve(self, name: str) -> Path:
        """The resolved path of input ``name`` (relative to IN), or :class:`InputRefused` if it leads outside."""
        parts = clean_relative(name)
        real = Path(os.path.realpath(os.path.join(self.given, *parts)))
        if not is_inside(real, self.path):
            raise InputRefused(
                f"a symbolic link leads outside IN (to {real}): not read. ipmix reads only inside IN; pass "
                "the folder that holds the real files as IN (with --files-from for a subset)"
            )
        return real

    @contextmanager
    def held_folders(self) -> Iterator[dict]:
        """Folders of IN kept open while a batch of inputs is read (closed at the end), for :meth:`open`.

        Reaching a folder costs a descriptor per component (tens of µs each on ext4) for every input, and
        inputs of one task mostly share their folder. A held folder is used only while its path still names
        it (an ``lstat`` of IN and of each folder on the way): one moved out of IN, removed or replaced
        meanwhile is reached anew, with the same checks as the first time. At most :data:`_HELD_FOLDERS` are
        held.
        """
        held: dict = {}
        try:
            yield held
        finally:
            for fd, _ in held.values():
                os.close(fd)

    def open(self, name: str, held: dict | None = None) -> BinaryIO:
        """Input ``name`` opened for binary reading (see the module docstring).

        The path is first walked as it is, each component with ``O_NOFOLLOW``: with no link on the way it is
        the resolved path, and no per-component ``lstat`` is needed. Only a link on the way (``ELOOP`` or
        ``ENOTDIR``) makes it resolve the name, check that it stays inside IN and walk the resolved path.
        ``held`` (from :meth:`held_folders`) keeps folders open between calls.
        """
        parts = clean_relative(name)
        try:
            handle = self._open_below(parts, held)
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise _refusal(error) from None
            real = self.resolve(name)
            parts = real.relative_to(self.path).parts
            if not parts:
                raise InputRefused("IN itself is not an input file") from None
            try:
                handle = self._open_below(parts, None)
            except OSError as error:
                raise _refusal(error) from None
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            os.close(handle)
            raise InputRefused(f"{describe_special(mode)}, not a regular file: not read")
        return os.fdopen(handle, "rb")

    def _open_below(self, parts: tuple[str, ...], held: dict | None) -> int:
        """The file at ``parts`` below the resolved IN, every component opened without following links."""
        folder_parts = parts[:-1]
        if held is not None and folder_parts in held:
            handle = self._open_in_held(held, folder_parts, parts[-1])
            if handle is not None:
                return handle
        folder = os.open(self.path, _DIR_FLAGS)
        chain = [(str(self.path), _identity(os.fstat(folder)))] if held is not None else []
        try:
            for depth, part in enumerate(folder_parts):
                child = os.open(part, _DIR_FLAGS, dir_fd=folder)
                os.close(folder)
                folder = child
                if held is not None:
                    chain.append((os.path.join(self.path, *folder_parts[: depth + 1]), _identity(os.fstat(folder))))
            handle = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
        except BaseException:
            os.close(folder)
            raise
        if held is not None and len(held) < _HELD_FOLDERS:
            held[folder_parts] = (folder, tuple(chain))
        else:
            os.close(folder)
        return handle

    @staticmethod
    def _open_in_held(held: dict, folder_parts: tuple[str, ...], name: str) -> int | None:
        """``name`` opened in a held folder that its path still names, else ``None`` (the folder is dropped).

        "Still names it": IN and every folder on the way, looked up by path without following the last
        component, are the folders the walk reached; so a folder moved out of IN, or a link put on the way,
        is noticed (the walk that follows then applies the link policy)."""
        folder, chain = held[folder_parts]
        try:
            handle = os.open(name, _FILE_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            handle = None  # perhaps removed and made again: reach it anew
        try:
            if all(_identity(os.stat(path, follow_symlinks=False)) == identity for path, identity in chain):
                return handle
        except OSError:
            pass
        if handle is not None:
            os.close(handle)
        os.close(held.pop(folder_parts)[0])
        return None


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _refusal(error: OSError) -> InputRefused:
    """The reason an input could not be opened, for its failure record."""
    if isinstance(error, FileNotFoundError):
        return InputRefused("no such file (removed since the run started?)")
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return InputRefused("a folder on its path was replaced by a link during the run: not read")
    return InputRefused(f"cannot open it: {error.strerror}")
