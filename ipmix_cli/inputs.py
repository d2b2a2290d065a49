"""The inputs a run found, held compactly: a column of keys and small numeric columns, not an object per input.

A reader finds every input of IN in the driver; a run over ImageNet has 1.28 million of them, and a Python
object per input costs a kilobyte or more. :class:`Inputs` keeps the keys (sorted: a key is the input's seed
key, its manifest ``source`` and its place in the manifest) in one UTF-8 blob with an offset array, labels,
splits and format hints as indices into small vocabularies, the input's identity (size and modification time
of the file that holds it) in integer arrays, and where a reader finds it as a few integers. About 60 bytes an
input for a folder of images; an :class:`~.items.Item` is made only for the inputs a task is working on.
"""

from __future__ import annotations

from array import array
from typing import Iterator, Sequence

import numpy as np

from .items import Item, stem_of

NO_INDEX = -1


class StringColumn:
    """Strings in one UTF-8 blob (surrogate escapes kept) with an offset array; appended, then frozen."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends: array | np.ndarray = array("q")

    def append(self, text: str) -> None:
        self._blob += text.encode("utf-8", "surrogateescape")
        self._ends.append(len(self._blob))

    def freeze(self) -> StringColumn:
        self._blob = bytes(self._blob)
        self._ends = np.frombuffer(self._ends, dtype=np.int64) if len(self._ends) else np.zeros(0, np.int64)
        return self

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        start = int(self._ends[index - 1]) if index > 0 else 0
        return self._blob[start : int(self._ends[index])].decode("utf-8", "surrogateescape")

    def reordered(self, order: np.ndarray) -> StringColumn:
        column = StringColumn()
        for index in order:
            column.append(self[int(index)])
        return column.freeze()

    @property
    def nbytes(self) -> int:
        return len(self._blob) + np.asarray(self._ends).nbytes


class Vocabulary:
    """Distinct values (labels, splits, format hints, shard names) numbered in order of appearance."""

    def __init__(self) -> None:
        self.values: list = []
        self._numbers: dict = {}

    def number(self, value) -> int:
        if value is None:
            return NO_INDEX
        key = (type(value), value)
        found = self._numbers.get(key)
        if found is None:
            found = self._numbers[key] = len(self.values)
            self.values.append(value)
        return found

    def value(self, number: int):
        return None if number == NO_INDEX else self.values[number]


class Inputs(Sequence[Item]):
    """The inputs of a run, sorted by key (see the module docstring). ``inputs[i]`` is an :class:`Item`."""

    def __init__(self, builder: "InputsBuilder", order: np.ndarray | None):
        def column(values, dtype):
            values = np.asarray(values, dtype=dtype)  # no copy of an ``array`` of the same type
            return values if order is None else values[order]

        keys = builder.keys.freeze()
        self.keys = keys if order is None else keys.reordered(order)
        stems = builder.stems.freeze() if builder.stems is not None else None
        self.stems = stems if stems is None or order is None else stems.reordered(order)
        self.labels = column(builder.labels, np.int32)
        self.splits = column(builder.splits, np.int16)
        self.hints = column(builder.hints, np.int16)
        self.sizes = column(builder.sizes, np.int64)
        self.mtimes = column(builder.mtimes, np.int64)
        where_ends = np.asarray(builder.where_ends, dtype=np.int64)
        where = np.asarray(builder.where, dtype=np.int64)
        if order is not None and len(where):
            starts = np.concatenate(([0], where_ends[:-1]))
            pieces = [where[starts[i] : where_ends[i]] for i in order]
            where = np.concatenate(pieces) if pieces else where
            where_ends = np.cumsum([len(piece) for piece in pieces], dtype=np.int64)
        elif order is not None:
            where_ends = where_ends[order] * 0
        self.where, self.where_ends = where, where_ends
        self.label_names, self.split_names, self.hint_names = (
            builder.label_vocab,
            builder.split_vocab,
            builder.hints_vocab,
        )
        self.names = builder.names
        self.stem_of = builder.stem_of
        self.decode_where = builder.decode_where

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, index: int) -> str:
        return self.keys[index]

    def stem(self, index: int) -> str:
        """The stem input ``index``'s output names are built from, without making its item."""
        return self.stems[index] if self.stems is not None else self.stem_of(self.keys[index])

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        key = self.keys[index]
        start = int(self.where_ends[index - 1]) if index > 0 else 0
        where = tuple(int(value) for value in self.where[start : int(self.where_ends[index])])
        if self.decode_where is not None:
            where = self.decode_where(where, self.names.values)
        stem = self.stems[index] if self.stems is not None else self.stem_of(key)
        size, mtime = int(self.sizes[index]), int(self.mtimes[index])
        return Item(
            key=key,
            label=self.label_names.value(int(self.labels[index])),
            stem=stem,
            hint=self.hint_names.value(int(self.hints[index])),
            where=where,
            split=self.split_names.value(int(self.splits[index])),
            identity=(size, mtime) if size >= 0 else (),
        )

    def __iter__(self) -> Iterator[Item]:
        return (self[index] for index in range(len(self)))

    def label_values(self) -> list:
        """The distinct labels present (class names or numbers)."""
        return [self.label_names.value(int(n)) for n in np.unique(self.labels) if n != NO_INDEX]

    def split_values(self) -> list:
        return [self.split_names.value(int(n)) for n in np.unique(self.splits) if n != NO_INDEX]

    @property
    def nbytes(self) -> int:
        arrays = (self.labels, self.splits, self.hints, self.sizes, self.mtimes, self.where, self.where_ends)
        stems = self.stems.nbytes if self.stems is not None else 0
        return self.keys.nbytes + stems + sum(array.nbytes for array in arrays)


class InputsBuilder:
    """Collects inputs as a reader finds them; :meth:`build` sorts them by key unless they came sorted.

    ``where`` is what a reader needs to find an input again, as integers (names such as a shard's file go in
    :attr:`names` and are referred to by number); ``decode_where(integers, names)`` turns them back into the
    reader's form for an :class:`Item`. ``stem_of`` gives an input's output stem from its key when the reader
    does not pass one."""

    def __init__(self, stem_of=stem_of, decode_where=None):
        self.stem_of = stem_of
        self.decode_where = decode_where
        self.keys = StringColumn()
        self.stems: StringColumn | None = None
        # 8 bytes an input each (``array``, not lists of Python ints: a million inputs are a million ints)
        self.labels = array("i")
        self.splits = array("h")
        self.hints = array("h")
        self.sizes = array("q")
        self.mtimes = array("q")
        self.where = array("q")
        self.where_ends = array("q")
        self.label_vocab, self.split_vocab, self.hints_vocab = Vocabulary(), Vocabulary(), Vocabulary()
        self.names = Vocabulary()
        self._last: str | None = None
        self._in_order = True

    def add(
        self,
        key: str,
        label=None,
        split: str | None = None,
        hint: str | None = None,
        identity: tuple = (),
        where: tuple[int, ...] = (),
        stem: str | None = None,
    ) -> None:
        if self._last is not None and key <= self._last:
            self._in_order = False
        self._last = key
        self.keys.append(key)
        if stem is not None and stem != self.stem_of(key):
            if self.stems is None:
                self.stems = StringColumn()
                for index in range(len(self.keys) - 1):
                    self.stems.append(self.stem_of(self.keys_so_far(index)))
            self.stems.append(stem)
        elif self.stems is not None:
            self.stems.append(self.stem_of(key) if stem is None else stem)
        self.labels.append(self.label_vocab.number(label))
        self.splits.append(self.split_vocab.number(split))
        self.hints.append(self.hints_vocab.number(hint))
        size, mtime = identity if identity else (-1, -1)
        self.sizes.append(size)
        self.mtimes.append(mtime)
        self.where.extend(where)
        self.where_ends.append(len(self.where))

    def keys_so_far(self, index: int) -> str:
        return StringColumn.__getitem__(self.keys, index)

    def build(self) -> Inputs:
        if self._in_order:
            return Inputs(self, None)
        count = len(self.keys)
        keys = [self.keys_so_far(index) for index in range(count)]
        order = np.asarray(sorted(range(count), key=keys.__getitem__), dtype=np.int64)
        del keys
        return Inputs(self, order)
