"""Opening a path below a folder in one system call, following no link: Linux's ``openat2``.

``openat2(folder, path, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` resolves the whole path in the kernel and
fails (``ELOOP``, ``EXDEV``) if any component is a link or leads out of ``folder``. A walk in user space (one
``openat`` per component) leaves time between components for a folder to be moved out and back; the kernel's
walk does not. Python has no binding for it, so it is called through ``ctypes``; where the kernel or the
platform lacks it (before Linux 5.6, other systems, a seccomp filter), :data:`OPENAT2` is ``None`` and
callers walk component by component instead.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Callable

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
#: Inside the folder, through no link of any kind.
STRICTLY_BENEATH = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS

_SYSCALL_NUMBERS = {"x86_64": 437, "aarch64": 437}  # the same number in the kernel's unified table


def _load() -> Callable[[int, str, int, int], int] | None:
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long

    class OpenHow(ctypes.Structure):
        _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

    def openat2(folder: int, path: str | bytes, flags: int, resolve: int) -> int:
        """A descriptor of ``path`` opened below ``folder`` (a descriptor); ``OSError`` as ``os.open``."""
        how = OpenHow(flags, 0, resolve)
        fd = syscall(
            ctypes.c_long(number),
            ctypes.c_int(folder),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return fd

    try:  # the kernel may lack it (ENOSYS) or a filter may refuse it (EPERM): then it is not used at all
        root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(openat2(root, ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, STRICTLY_BENEATH))
        finally:
            os.close(root)
    except OSError:
        return None
    return openat2


#: ``openat2(folder_fd, path, flags, resolve) -> fd``, or ``None`` where the system has no ``openat2``.
OPENAT2 = _load()

__all__ = ["OPENAT2", "STRICTLY_BENEATH"]
