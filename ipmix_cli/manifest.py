"""The manifest (``metadata.jsonl``), its resumable parts, and the run record (``ipmix_run.json``).

While a run goes on, the parent writes one part file per finished batch in ``OUT/.ipmix/`` (atomically,
after the batch's images exist), each sorted by (source, copy). The manifest is a streaming merge of the
parts, and of the previous manifest when a finished run is extended, so it is always sorted the same way
and never needs every record in memory.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .atomic import TEMP_PREFIX, write_text_atomic

MANIFEST_NAME = "metadata.jsonl"
RUN_RECORD_NAME = "ipmix_run.json"
STATE_DIR = ".ipmix"


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


def write_part(out: Path, name: str, records: list[dict]) -> None:
    state = out / STATE_DIR
    state.mkdir(exist_ok=True)
    lines = "".join(dumps(r) + "\n" for r in sorted(records, key=record_key))
    write_text_atomic(state / f"part-{name}.jsonl", lines)


def part_files(out: Path) -> list[Path]:
    return sorted((out / STATE_DIR).glob("part-*.jsonl"))


def existing_records(out: Path) -> Iterator[dict]:
    """Every record written so far: the manifest of an earlier run, then the parts of this one."""
    yield from read_jsonl(out / MANIFEST_NAME)
    for part in part_files(out):
        yield from read_jsonl(part)


def write_manifest(out: Path, keep: set[str]) -> int:
    """Merge the previous manifest and all parts into ``metadata.jsonl`` (sources in ``keep`` only).

    Each input is sorted, so a heap merge streams them in order; a source recorded twice (re-made after
    an interruption) keeps one record per copy. Returns the number of records written.
    """
    sources = [read_jsonl(out / MANIFEST_NAME)] + [read_jsonl(p) for p in part_files(out)]
    merged = heapq.merge(*sources, key=record_key)
    handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".jsonl", dir=out)
    written = 0
    previous = None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for record in merged:
                key = record_key(record)
                if key == previous or record["source"] not in keep:
                    continue
                previous = key
                stream.write(dumps(record) + "\n")
                written += 1
        os.replace(temporary, out / MANIFEST_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def clear_parts(out: Path) -> None:
    for part in part_files(out):
        part.unlink(missing_ok=True)
    try:
        (out / STATE_DIR).rmdir()
    except OSError:
        pass


def read_run_record(out: Path) -> dict | None:
    try:
        return json.loads((out / RUN_RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_run_record(out: Path, record: dict) -> None:
    write_text_atomic(out / RUN_RECORD_NAME, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def manifest_files(records: Iterable[dict]) -> Iterator[str]:
    for record in records:
        yield record["file_name"]
