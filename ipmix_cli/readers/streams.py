"""Streams the shard readers hand to workers: a window onto a member of an open file, read in place (nothing is
ever extracted to disk), and an opener that fails with the reason an input cannot be read."""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from typing import BinaryIO, Iterator


class Window(io.RawIOBase):
    """Bytes ``offset`` … ``offset + size`` of the file descriptor ``fd``, seekable, read with ``pread`` (so
    windows onto one file never disturb each other); closing it leaves ``fd`` open."""

    def __init__(self, fd: int, offset: int, size: int):
        super().__init__()
        self._fd, self._offset, self._size, self._position = fd, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        data = os.pread(self._fd, wanted, self._offset + self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def read_window(fd: int, offset: int, size: int) -> bytes:
    """All of a window's bytes (a short read when the file is shorter than it was when planned)."""
    return os.pread(fd, size, offset)


@contextmanager
def window(fd: int, offset: int, size: int) -> Iterator[BinaryIO]:
    yield io.BufferedReader(Window(fd, offset, size), buffer_size=1 << 16)


@contextmanager
def in_memory(data: bytes) -> Iterator[BinaryIO]:
    yield io.BytesIO(data)


@contextmanager
def refused(error: Exception) -> Iterator[BinaryIO]:
    """An opener of an input that cannot be read: entering it raises ``error`` (the input's failure)."""
    raise error
    yield  # pragma: no cover - makes this a generator


def digest_of(reader, item) -> str:
    """The SHA-256 of the bytes a worker reads for ``item`` (what it records), read through ``reader``."""
    import hashlib

    for _, opened in reader.inputs([item]):
        with opened as stream:
            digest = hashlib.sha256()
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    raise OSError(f"{item.key} cannot be read")
