"""What the shard formats share: sample names, one input's samples held until it is whole, the shard streamed to a
temporary and renamed when complete, and the shard's record.

A shard's bytes depend only on its inputs (in the order the reader yields them) and the settings: samples are
named from the shard's name, the input's place in the unit and the output's tag (``00003_017_ipmix2``: shard
00003, input 17 of the unit, copy 2; ``…_original`` for the clean image), never from timing. Names hold no dot,
so WebDataset and Hugging Face ``datasets`` see exactly one sample per copy (they split a member name at its first dot).

The outputs of one input arrive together (the worker stores an input's outputs one after another and drops it
at once if one fails), so only the current input's samples wait in memory: a shard of any size is written
with the memory of one input's copies.
"""

from __future__ import annotations

import hashlib

from ..disk.folder import describe_os_error
from ..errors import RunFault
from ..formats.records import FileEntry, signature
from ..labels import class_number, numbering


class HashingSink:
    """A write-only stream that hashes what passes through it; closing it leaves the real stream open (the
    folder's ``open_new`` renames that one into place)."""

    def __init__(self, stream):
        self._stream = stream
        self._hash = hashlib.sha256()
        self._position = 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self._stream.write(data)
        self._hash.update(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class ShardWriter:
    """Base of the sharded writers: subclasses say how samples are stored (``_begin``, ``_emit``, ``_end``)."""

    extension = ""

    def __init__(self, out, settings, unit: str, keys: tuple[str, ...] = ()):
        self.out, self.settings, self.unit = out, settings, unit
        self.keys = tuple(keys)
        self._place = {key: number for number, key in enumerate(self.keys)}
        self._width = len(str(settings.inputs_per_unit - 1))
        self._numbers = numbering(settings.classes)
        self._stem = unit.rpartition(".")[0]
        self._current: str | None = None
        self._waiting: list = []
        self._stored: set[str] = set()
        self._context = None
        self._sink: HashingSink | None = None

    # --- the writer interface (see writers/__init__.py) ----------------------------------------------

    def add(self, item, made) -> tuple[dict, None]:
        if item.key != self._current:
            self._flush()
            self._current = item.key
        name = self.sample_name(item.key, made.output.tag)
        record = {"file_name": name + made.extension, "shard": self.unit, **made.record}
        self._waiting.append(self._sample(name, item, made, record))
        return record, None

    def drop(self, item) -> None:
        if item.key == self._current:
            self._waiting, self._current = [], None

    def close(self) -> tuple[FileEntry, list[str]]:
        """Rename the finished shard into place; the shard's file and the keys of inputs it does not hold."""
        self._flush()
        self._open()
        try:
            self._end(self._sink)
        except OSError as error:
            raise RunFault(describe_os_error(error, str(self.out.path / self.unit))) from None
        context, self._context = self._context, None
        try:
            context.__exit__(None, None, None)
        except OSError as error:
            raise RunFault(describe_os_error(error, str(self.out.path / self.unit))) from None
        entry = FileEntry(self.unit, self._sink.hexdigest(), signature(self._stream.final_stat))
        return entry, [key for key in self.keys if key not in self._stored]

    def abort(self) -> None:
        """Drop the shard being written (its temporary is removed). Never raises an ``OSError``: closing the
        temporary flushes its buffer, which fails on the full disk that is often why the shard is dropped."""
        context, self._context = self._context, None
        if context is not None:
            try:
                self._discard()
            finally:
                try:
                    context.__exit__(_Aborted, _Aborted(), None)
                except OSError:
                    pass

    # --- helpers ---------------------------------------------------------------------------------------

    def sample_name(self, key: str, tag: str) -> str:
        """The sample's name in the shard: shard, the input's place in the unit, and the output's tag (see
        above)."""
        return f"{self._stem}_{self._place[key]:0{self._width}d}_{tag}"

    def class_number(self, label) -> int:
        return class_number(label, self._numbers)

    def _flush(self) -> None:
        """Store the finished input's samples."""
        if not self._waiting:
            return
        self._open()
        try:
            self._emit(self._sink, self._waiting)
        except OSError as error:
            raise RunFault(describe_os_error(error, str(self.out.path / self.unit))) from None
        self._stored.add(self._current)
        self._waiting = []

    def _open(self) -> None:
        if self._context is not None:
            return
        context = self.out.open_new(self.unit)
        try:
            self._stream = context.__enter__()
        except OSError as error:
            raise RunFault(describe_os_error(error, str(self.out.path / self.unit))) from None
        self._context = context
        self._sink = HashingSink(self._stream)
        self._begin(self._sink)

    # --- what subclasses define -------------------------------------------------------------------------

    def _sample(self, name: str, item, made, record: dict):
        """What is kept of one output until its input is whole."""
        raise NotImplementedError

    def _begin(self, sink) -> None:
        pass

    def _emit(self, sink, samples: list) -> None:
        raise NotImplementedError

    def _end(self, sink) -> None:
        pass

    def _discard(self) -> None:
        """Release what ``_begin`` made, before the temporary is removed."""


class _Aborted(Exception):
    """Thrown into a shard's ``open_new`` so that it removes the temporary instead of renaming it."""
