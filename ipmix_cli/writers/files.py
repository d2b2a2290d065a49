"""The ``files`` output format: one image file per output, mirroring IN's layout (SPEC §4 "Writing")."""

from __future__ import annotations

from . import signature


class FilesWriter:
    def __init__(self, out, options, unit=None, keys=()):
        self.out = out
        self._written: dict[str, list[str]] = {}

    def add(self, item, output, data: bytes, encoder) -> dict:
        info = self.out.write_bytes(output.file_name, data)
        self._written.setdefault(item.key, []).append(output.file_name)
        return {"file_name": output.file_name, "_sig": signature(info)}

    def drop(self, item) -> None:
        """An input failed part-way: remove the outputs it wrote in this task, which will never be recorded
        (OUT holds exactly the outputs its manifest lists)."""
        for name in self._written.pop(item.key, []):
            try:
                self.out.remove(name)
            except OSError:
                pass

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None
