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
from pathlib import Path
from typing import BinaryIO

from .folder import clean_relative, is_inside

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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

    def open(self, name: str) -> BinaryIO:
        """Input ``name`` opened for binary reading (see the module docstring)."""
        real = self.resolve(name)
        parts = real.relative_to(self.path).parts
        if not parts:
            raise InputRefused("IN itself is not an input file")
        try:
            fd = os.open(self.path, _DIR_FLAGS)
            try:
                for part in parts[:-1]:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = child
                handle = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise InputRefused("no such file (removed since the run started?)") from None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InputRefused("a folder on its path was replaced by a link during the run: not read") from None
            raise InputRefused(f"cannot open it: {error.strerror}") from None
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            os.close(handle)
            raise InputRefused(f"{describe_special(mode)}, not a regular file: not read")
        return os.fdopen(handle, "rb")
