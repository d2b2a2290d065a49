"""The ``files`` output format: one image file per output, mirroring IN's layout (SPEC §4 "Writing")."""

from __future__ import annotations

from . import signature


class FilesWriter:
    def __init__(self, out, options, unit=None):
        self.out = out

    def add(self, item, output, data: bytes, encoder) -> dict:
        info = self.out.write_bytes(output.file_name, data)
        return {"file_name": output.file_name, "_sig": signature(info)}

    def drop(self, item) -> None:
        """Files an input already wrote stay: unrecorded, they are written again (same bytes) on resume."""

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None
