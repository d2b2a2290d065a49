"""Opening inputs: only inside IN, never blocking (SPEC §6).

Inputs are named by their keys, text as ipmix holds names (``items.name_text``): each is turned back into the
bytes it stands for with ``items.name_bytes``, never with the locale's encoding, so a UTF-8 name opens the same
under ``LC_ALL=C`` as in a UTF-8 locale.

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
from pathlib import Path
from typing import BinaryIO

from ..errors import InputFailure
from ..items import name_bytes, name_text
from . import beneath
from .folder import clean_relative, is_inside

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class InputRefused(InputFailure):
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
        # the path resolved at the start: a worker never looks IN up again (IN given as a link and the link
        # retargeted during the run must not switch the run to another folder)
        return InputRoot, (str(self.path),)

    def resolve(self, name: str) -> Path:
        """The resolved path of input ``name`` (relative to IN), or :class:`InputRefused` if it leads outside."""
        parts = clean_relative(name)
        real = Path(os.fsdecode(os.path.realpath(os.path.join(os.fsencode(self.given), *map(name_bytes, parts)))))
        if not is_inside(real, self.path):
            raise InputRefused(
                f"a symbolic link leads outside IN (to {real}): not read. ipmix reads only inside IN; pass "
                "the folder that holds the real files as IN (with --files-from for a subset)"
            )
        return real

    def open(self, name: str) -> BinaryIO:
        """Input ``name`` opened for binary reading (see the module docstring).

        The path is first walked as it is, each component with ``O_NOFOLLOW``: with no link on the way it is
        the resolved path, and no per-component ``lstat`` is needed. Only a link on the way (``ELOOP`` or
        ``ENOTDIR``) makes it resolve the name, check that it stays inside IN and walk the resolved path.
        """
        parts = clean_relative(name)
        try:
            handle = self._open_below(parts)
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise _refusal(error) from None
            try:
                real = self.resolve(name)
            except OSError as error:  # a link on the way changed while it was being resolved
                raise InputRefused(f"its path changed while it was resolved: not read ({error.strerror})") from None
            parts = tuple(name_text(os.fsencode(part)) for part in real.relative_to(self.path).parts)
            if not parts:
                raise InputRefused("IN itself is not an input file") from None
            try:
                handle = self._open_below(parts)
            except OSError as error:
                raise _refusal(error) from None
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            os.close(handle)
            raise InputRefused(f"{describe_special(mode)}, not a regular file: not read")
        return os.fdopen(handle, "rb")

    def _open_below(self, parts: tuple[str, ...]) -> int:
        """The file at ``parts`` below the resolved IN, following no link: in one kernel walk where the system
        has ``openat2`` (:mod:`.beneath`), else one component at a time; then checked to be still there."""
        if beneath.OPENAT2 is not None:
            return self._open_beneath(parts, beneath.OPENAT2)
        base = os.fsencode(self.path)
        parts = tuple(map(name_bytes, parts))
        folder = os.open(base, _DIR_FLAGS)
        chain = [(base, _identity(os.fstat(folder)))]
        try:
            for depth, part in enumerate(parts[:-1]):
                child = os.open(part, _DIR_FLAGS, dir_fd=folder)
                os.close(folder)
                folder = child
                chain.append((os.path.join(base, *parts[: depth + 1]), _identity(os.fstat(folder))))
            handle = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
        finally:
            os.close(folder)
        chain.append((os.path.join(base, *parts), _identity(os.fstat(handle))))
        if not _still_in_place(chain):
            os.close(handle)
            raise InputRefused("it or a folder on its path was moved or replaced while it was opened: not read")
        return handle

    def _open_beneath(self, parts: tuple[str, ...], openat2) -> int:
        """``parts`` opened by ``openat2`` below IN, then looked up again the same way: the file read must be
        the one its path names inside IN, through no link, after the open (one swapped in while its folder
        was moved out of IN and back is refused)."""
        relative = b"/".join(map(name_bytes, parts))
        root = os.open(self.path, _DIR_FLAGS)
        try:
            handle = openat2(root, relative, _FILE_FLAGS, beneath.STRICTLY_BENEATH)
            try:
                check = openat2(root, relative, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, beneath.STRICTLY_BENEATH)
            except OSError:
                check = None
        finally:
            os.close(root)
        same = check is not None and _identity(os.fstat(check)) == _identity(os.fstat(handle))
        if check is not None:
            os.close(check)
        if not same:
            os.close(handle)
            raise InputRefused("it or a folder on its path was moved or replaced while it was opened: not read")
        return handle


def _still_in_place(chain: list[tuple[bytes, tuple[int, int]]]) -> bool:
    """Whether IN, every folder on the way and the opened file are, looked up by path now (the last component
    never followed), the ones the walk reached.

    The walk opens each folder relative to the previous one, so a folder moved out of IN during the walk
    would be followed out; checked after the open, the file read is the one its path names inside IN at the
    check, and one swapped in from outside and put back meanwhile is refused."""
    try:
        return all(_identity(os.stat(path, follow_symlinks=False)) == identity for path, identity in chain)
    except OSError:
        return False


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _refusal(error: OSError) -> InputRefused:
    """The reason an input could not be opened, for its failure record."""
    if isinstance(error, FileNotFoundError):
        return InputRefused("no such file (removed since the run started?)")
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return InputRefused("a folder on its path was replaced by a link during the run: not read")
    if error.errno in (errno.EAGAIN, errno.EXDEV):  # openat2: a rename during its walk, or a way out of IN
        return InputRefused("a folder on its path was moved during the open: not read")
    return InputRefused(f"cannot open it: {error.strerror}")
