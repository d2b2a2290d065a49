"""JSON Lines as ipmix writes them: one record per line, readable by any tool that splits lines."""

from __future__ import annotations

import json

_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def dumps(record) -> str:
    """One JSON line: UTF-8 text kept readable, but the characters that other tools take for line breaks
    (U+2028, U+2029, U+0085; CR and LF are always escaped by JSON) escaped, so that a reader splitting the
    file with ``str.splitlines`` still sees one record per line."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii() and any(character in text for character in _LINE_BREAKS):  # isascii: O(1), usual
        for character, escaped in _LINE_BREAKS.items():
            text = text.replace(character, escaped)
    return text
