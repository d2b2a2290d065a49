"""The ``files`` output format: one image file per output, mirroring IN's layout (SPEC §4 "Writing")."""

from __future__ import annotations

from ..formats.records import FileEntry, signature


class FilesWriter:
    def __init__(self, out, settings=None, unit=None, keys=()):
        self.out = out
        self._written: dict[str, list[str]] = {}

    def add(self, item, made) -> tuple[dict, FileEntry]:
        name = made.output.name
        info = self.out.write_bytes(name, made.data)
        self._written.setdefault(item.key, []).append(name)
        record = {"file_name": name, **made.record}
        return record, FileEntry(name, made.record["sha256"], signature(info))

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
