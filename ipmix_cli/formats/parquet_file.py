"""Writing Parquet files without pyarrow: the small part of the format ipmix's tables need.

Loading pyarrow costs a worker process about 50 MB (its libraries and allocator), which put a run writing
Parquet shards at 2 jobs over the 400 MB its process tree may take. The tables ipmix writes are simple:
optional strings, 64-bit integers and one struct of two byte strings. So this module writes them itself:
PLAIN values, RLE definition levels, one uncompressed version-1 data page per column and row group, no
statistics, and the footer in Thrift's compact protocol (see the Parquet format's ``parquet.thrift``).
pyarrow, Hugging Face ``datasets`` and every other Parquet reader read the result; the tests check it.

The bytes are a function of the rows, the columns and the key-value metadata alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"PAR1"

# Thrift compact protocol type codes
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _BINARY, _LIST, _STRUCT = 1, 2, 3, 4, 5, 6, 8, 9, 12

# parquet.thrift enums
_BYTE_ARRAY, _INT64 = 6, 2  # Type
_OPTIONAL = 1  # FieldRepetitionType
_UTF8, _UINT_64 = 0, 14  # ConvertedType
_PLAIN, _RLE = 0, 3  # Encoding
_UNCOMPRESSED = 0  # CompressionCodec
_DATA_PAGE = 0  # PageType

#: Leaf kinds: Parquet physical type, converted type, logical type (LogicalType union, as Thrift fields).
_KINDS = {
    "binary": (_BYTE_ARRAY, None, None),
    "string": (_BYTE_ARRAY, _UTF8, [(1, _STRUCT, [])]),  # STRING
    "int64": (_INT64, None, None),
    "uint64": (_INT64, _UINT_64, [(10, _STRUCT, [(1, _BYTE, 64), (2, "bool", False)])]),  # INTEGER(64, unsigned)
}


# --- Thrift compact protocol ---------------------------------------------------------------------------------


def _varint(buffer: bytearray, value: int) -> None:
    while value > 0x7F:
        buffer.append((value & 0x7F) | 0x80)
        value >>= 7
    buffer.append(value)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _value(buffer: bytearray, kind, value) -> None:
    if kind in (_I16, _I32, _I64):
        _varint(buffer, _zigzag(value))
    elif kind == _BYTE:
        buffer += struct.pack("<b", value)
    elif kind == _BINARY:
        data = value.encode("utf-8") if isinstance(value, str) else value
        _varint(buffer, len(data))
        buffer += data
    elif kind == _STRUCT:
        _struct(buffer, value)
    elif kind == _LIST:
        element, items = value
        if len(items) < 15:
            buffer.append((len(items) << 4) | element)
        else:
            buffer.append(0xF0 | element)
            _varint(buffer, len(items))
        for item in items:
            _value(buffer, element, item)
    else:
        raise ValueError(f"no Thrift encoding for {kind!r}")


def _struct(buffer: bytearray, fields: list) -> None:
    """A Thrift struct from ``(field id, type, value)`` triples in increasing id order (None values skipped)."""
    last = 0
    for number, kind, value in fields:
        if value is None:
            continue
        code = (_BOOL_TRUE if value else _BOOL_FALSE) if kind == "bool" else kind
        delta = number - last
        if 0 < delta <= 15:
            buffer.append((delta << 4) | code)
        else:
            buffer.append(code)
            _varint(buffer, _zigzag(number))
        last = number
        if kind != "bool":
            _value(buffer, kind, value)
    buffer.append(0)


def thrift(fields: list) -> bytes:
    buffer = bytearray()
    _struct(buffer, fields)
    return bytes(buffer)


# --- columns -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """A column of values: its path (a struct's fields have two parts) and kind (see ``_KINDS``)."""

    path: tuple[str, ...]
    kind: str

    def levels_and_values(self, rows: list[dict]) -> tuple[list[int], list]:
        """Each row's definition level (every field on the path is optional) and the values present."""
        levels, values = [], []
        depth = len(self.path)
        for row in rows:
            value, level = row, 0
            for name in self.path:
                value = value.get(name) if isinstance(value, dict) else None
                if value is None:
                    break
                level += 1
            levels.append(level)
            if level == depth:
                values.append(value)
        return levels, values


def leaves(fields: list) -> list[Leaf]:
    """The leaf columns of ``fields``: ``(name, kind)`` or ``(name, [(name, kind), ...])`` for a struct."""
    found = []
    for name, kind in fields:
        if isinstance(kind, list):
            found += [Leaf((name, child), child_kind) for child, child_kind in kind]
        else:
            found.append(Leaf((name,), kind))
    return found


def _schema_elements(fields: list) -> list:
    elements = [[(4, _BINARY, "schema"), (5, _I32, len(fields))]]
    for name, kind in fields:
        if isinstance(kind, list):
            elements.append([(3, _I32, _OPTIONAL), (4, _BINARY, name), (5, _I32, len(kind))])
            elements += [_leaf_element(child, child_kind) for child, child_kind in kind]
        else:
            elements.append(_leaf_element(name, kind))
    return elements


def _leaf_element(name: str, kind: str) -> list:
    physical, converted, logical = _KINDS[kind]
    return [
        (1, _I32, physical),
        (3, _I32, _OPTIONAL),
        (4, _BINARY, name),
        (6, _I32, converted),
        (10, _STRUCT, logical),
    ]


def _levels(levels: list[int], width: int) -> bytes:
    """Definition levels in the RLE/bit-packing hybrid, as runs, behind their 4-byte length (data page v1)."""
    buffer = bytearray()
    size = (width + 7) // 8
    start = 0
    while start < len(levels):
        end = start
        while end < len(levels) and levels[end] == levels[start]:
            end += 1
        _varint(buffer, (end - start) << 1)
        buffer += levels[start].to_bytes(size, "little")
        start = end
    return struct.pack("<I", len(buffer)) + bytes(buffer)


def _plain(kind: str, values: list) -> bytes:
    if kind in ("binary", "string"):
        parts = []
        for value in values:
            if kind == "string" and not isinstance(value, str):
                raise TypeError(f"expected text, got {type(value).__name__}")
            if kind == "binary" and not isinstance(value, (bytes, bytearray)):
                raise TypeError(f"expected bytes, got {type(value).__name__}")
            data = value.encode("utf-8") if kind == "string" else bytes(value)
            parts += (struct.pack("<I", len(data)), data)
        return b"".join(parts)
    low, high = (0, 2**64 - 1) if kind == "uint64" else (-(2**63), 2**63 - 1)
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise OverflowError(f"{value} does not fit a {kind} column")
    return struct.pack(f"<{len(values)}{'Q' if kind == 'uint64' else 'q'}", *values)


# --- the file ------------------------------------------------------------------------------------------------


class ParquetStream:
    """A Parquet file written to ``sink`` (any object with ``write``) one row group at a time; ``close``
    writes the footer. ``fields`` as in :func:`leaves`; ``metadata`` the file's key-value metadata."""

    def __init__(self, sink, fields: list, metadata: dict[str, str], created_by: str):
        self._sink, self._fields, self._leaves = sink, fields, leaves(fields)
        self._metadata, self._created_by = dict(sorted(metadata.items())), created_by
        self._groups: list = []
        self._rows = 0
        self._offset = 0
        self._write(MAGIC)

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._offset += len(data)

    def write_rows(self, rows: list[dict]) -> None:
        """One row group holding ``rows`` (a list of dicts keyed by field name; a missing key is a null)."""
        if not rows:
            return
        columns, group_bytes = [], 0
        for leaf in self._leaves:
            levels, values = leaf.levels_and_values(rows)
            page = _levels(levels, len(leaf.path).bit_length()) + _plain(leaf.kind, values)
            header = thrift(
                [
                    (1, _I32, _DATA_PAGE),
                    (2, _I32, len(page)),
                    (3, _I32, len(page)),
                    (5, _STRUCT, [(1, _I32, len(rows)), (2, _I32, _PLAIN), (3, _I32, _RLE), (4, _I32, _RLE)]),
                ]
            )
            start = self._offset
            self._write(header)
            self._write(page)
            size = len(header) + len(page)
            group_bytes += size
            meta = [
                (1, _I32, _KINDS[leaf.kind][0]),
                (2, _LIST, (_I32, [_PLAIN, _RLE])),
                (3, _LIST, (_BINARY, list(leaf.path))),
                (4, _I32, _UNCOMPRESSED),
                (5, _I64, len(rows)),
                (6, _I64, size),
                (7, _I64, size),
                (9, _I64, start),
            ]
            columns.append([(2, _I64, start), (3, _STRUCT, meta)])
        first = columns[0][0][2]
        self._groups.append(
            [
                (1, _LIST, (_STRUCT, columns)),
                (2, _I64, group_bytes),
                (3, _I64, len(rows)),
                (5, _I64, first),
                (6, _I64, group_bytes),
                (7, _I16, len(self._groups)),
            ]
        )
        self._rows += len(rows)

    def close(self) -> None:
        groups = self._groups
        footer = thrift(
            [
                (1, _I32, 1),
                (2, _LIST, (_STRUCT, _schema_elements(self._fields))),
                (3, _I64, self._rows),
                (4, _LIST, (_STRUCT, groups)),
                (5, _LIST, (_STRUCT, [[(1, _BINARY, k), (2, _BINARY, v)] for k, v in self._metadata.items()])),
                (6, _BINARY, self._created_by),
            ]
        )
        self._write(footer)
        self._write(struct.pack("<I", len(footer)))
        self._write(MAGIC)
