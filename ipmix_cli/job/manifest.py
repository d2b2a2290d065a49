"""The manifest (``metadata.jsonl``), its resumable parts, the run record (``ipmix_run.json``), and
where a whole run or one shard of a run keeps them (:class:`Layout`).

While a run goes on, the parent writes one part file per finished batch in ``OUT/.ipmix/`` (atomically,
after the batch's images exist), each sorted by (source, copy). The manifest is a streaming merge of the
parts, and of the previous manifest when a finished run is extended, so it is always sorted the same way
and never needs every record in memory. A shard ``I/N`` keeps the same files under names that end in
``.shard-I-of-N``, until ``ipmix merge`` combines the shards into the files of a single run.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..disk.atomic import FILE_MODE, TEMP_PREFIX, write_text_atomic

MANIFEST_NAME = "metadata.jsonl"
RUN_RECORD_NAME = "ipmix_run.json"
STATE_DIR = ".ipmix"


@dataclass(frozen=True)
class Layout:
    """The files of a whole run (``shard`` None) or of shard (index, count) in ``out``."""

    out: Path
    shard: tuple[int, int] | None = None

    @property
    def suffix(self) -> str:
        return f".shard-{self.shard[0]}-of-{self.shard[1]}" if self.shard else ""

    @property
    def manifest(self) -> Path:
        return self.out / f"metadata{self.suffix}.jsonl"

    @property
    def run_record(self) -> Path:
        return self.out / f"ipmix_run{self.suffix}.json"

    @property
    def state(self) -> Path:
        return self.out / STATE_DIR

    @property
    def plan(self) -> Path:
        """A shard's list of planned inputs, kept for ``ipmix merge`` to check against."""
        return self.state / f"plan{self.suffix}.txt"

    def parts(self) -> list[Path]:
        tag = self.suffix or ".run"
        return sorted(self.state.glob(f"part{tag}-*.jsonl"))

    def part(self, name: str) -> Path:
        return self.state / f"part{self.suffix or '.run'}-{name}.jsonl"


def record_key(record: dict) -> tuple[str, int]:
    """Manifest order: by source path, the clean original (copy null) before copies 0, 1, …"""
    copy = record.get("copy")
    return record["source"], -1 if copy is None else copy


def dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSONL file; a torn last line (from a hard kill) is ignored."""
    try:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
    except FileNotFoundError:
        return


def write_part(layout: Layout, name: str, records: list[dict]) -> None:
    layout.state.mkdir(exist_ok=True)
    lines = "".join(dumps(r) + "\n" for r in sorted(records, key=record_key))
    write_text_atomic(layout.part(name), lines)


def existing_records(layout: Layout) -> Iterator[dict]:
    """Every record written so far: the manifest of an earlier run, then the parts of this one."""
    yield from read_jsonl(layout.manifest)
    for part in layout.parts():
        yield from read_jsonl(part)


def merge_sorted(sources: list[Iterable[dict]], target: Path, keep=None) -> int:
    """Heap-merge sorted record streams into ``target`` (atomically), one record per (source, copy).

    ``keep``, when given, is the set of sources whose records are kept. Returns the number written.
    """
    merged = heapq.merge(*sources, key=record_key)
    handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".jsonl", dir=target.parent)
    written = 0
    previous = None
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for record in merged:
                key = record_key(record)
                if key == previous or (keep is not None and record["source"] not in keep):
                    continue
                previous = key
                stream.write(dumps(record) + "\n")
                written += 1
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def write_manifest(layout: Layout, keep: set[str]) -> int:
    """Merge the previous manifest and all parts into the layout's manifest (sources in ``keep`` only)."""
    sources = [read_jsonl(layout.manifest)] + [read_jsonl(p) for p in layout.parts()]
    return merge_sorted(sources, layout.manifest, keep)


def clear_parts(layout: Layout) -> None:
    for part in layout.parts():
        part.unlink(missing_ok=True)
    try:
        layout.state.rmdir()
    except OSError:
        pass  # other shards' files are still there


def read_run_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_run_record(path: Path, record: dict) -> None:
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
