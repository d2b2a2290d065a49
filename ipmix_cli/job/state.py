"""What OUT holds and how ipmix keeps track of it (SPEC §4 "Manifest", "Resume"; §6).

Files in OUT (a shard ``I/N`` of a run keeps its own, named ``….shard-I-of-N.…``):

- ``metadata.jsonl``: the manifest, one record per finished output, sorted by (source, copy). Regenerated at
  the end of every run (and of every interrupted run that could stop cleanly) from the state below, keeping
  only records whose files are present with their recorded bytes: after any sequence of runs, subsets,
  interruptions and resumes it lists exactly the finished outputs in OUT.
- ``ipmix_run.json``: the run record (settings, seed, counts, failures, timings, status).
- ``.ipmix-state.jsonl`` (private): the same records, each with its file's signature (size, times, inode), so
  a resume can trust an output by one ``stat`` and re-hash only files that changed.
- ``.ipmix-journal.jsonl`` (private): records appended by the driver as inputs finish; what a killed run
  finished is here, and the next run folds it into the state.
- ``metadata.parquet`` (``webdataset`` format): the manifest's rows as a Parquet table.
- ``.ipmix-units.jsonl`` (private, shard formats): one record per output shard written.
- ``.ipmix-plan.shard-I-of-N.jsonl`` (private, job shards): the inputs a shard planned, for ``ipmix merge``.

Only files, no folders, live at OUT's top level besides the outputs' own: torchvision's ``ImageFolder`` takes
every folder of OUT for a class. Nothing read back from these files is trusted as a path: every name is
checked (``folder.clean_relative``) and must be the name the current settings give that output.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..disk.atomic import next_temporary_name
from ..disk.folder import SafeFolder, UnsafePath, clean_relative
from ..formats.jsonlines import dumps
from ..writers import signature

MANIFEST_NAME = "metadata.jsonl"
RUN_RECORD_NAME = "ipmix_run.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
SORT_CHUNK = 100_000


@dataclass(frozen=True)
class Layout:
    """The bookkeeping files of a whole run (``shard`` None) or of shard (index, count)."""

    shard: tuple[int, int] | None = None

    @property
    def suffix(self) -> str:
        return f".shard-{self.shard[0]}-of-{self.shard[1]}" if self.shard else ""

    @property
    def manifest(self) -> str:
        return f"metadata{self.suffix}.jsonl"

    @property
    def parquet_manifest(self) -> str:
        """The manifest as Parquet, for formats that write one (``writers.finish``)."""
        return f"metadata{self.suffix}.parquet"

    @property
    def run_record(self) -> str:
        return f"ipmix_run{self.suffix}.json"

    @property
    def state(self) -> str:
        return f".ipmix-state{self.suffix}.jsonl"

    @property
    def journal(self) -> str:
        return f".ipmix-journal{self.suffix}.jsonl"

    @property
    def worker_journal_prefix(self) -> str:
        """Workers record each finished input in a journal of their own: ``<prefix><host-pid-token>.jsonl``."""
        return f".ipmix-journal{self.suffix}.w-"

    def journals(self, out: SafeFolder) -> list[str]:
        """The driver's journal and every worker journal of this layout present in OUT."""
        prefix = self.worker_journal_prefix
        found = [name for name, _ in out.walk(recursive=False) if name.startswith(prefix)]
        return [self.journal, *sorted(n for n in found if n.endswith(".jsonl"))]

    @property
    def units(self) -> str:
        return f".ipmix-units{self.suffix}.jsonl"

    @property
    def plan(self) -> str:
        return f".ipmix-plan{self.suffix}.jsonl"

    def files(self) -> list[str]:
        return [self.manifest, self.parquet_manifest, self.run_record, self.state, self.journal, self.units, self.plan]


_SHARD_SUFFIX = re.compile(r"\.shard-(\d+)-of-(\d+)$")


def layouts_in(out: SafeFolder) -> list[Layout]:
    """Every layout with a run record or state in OUT (a whole run and any shards)."""
    found = set()
    for name, _ in out.walk(recursive=False):
        for prefix, extension in (("ipmix_run", ".json"), (".ipmix-state", ".jsonl"), (".ipmix-journal", ".jsonl")):
            if name.startswith(prefix) and name.endswith(extension):
                middle = name[len(prefix) : -len(extension)]
                if middle == "":
                    found.add(Layout())
                elif match := _SHARD_SUFFIX.match(middle):
                    index, count = int(match.group(1)), int(match.group(2))
                    if 0 <= index < count:
                        found.add(Layout((index, count)))
    return sorted(found, key=lambda layout: layout.shard or (-1, -1))


# --- records ---------------------------------------------------------------------------------------------


def record_key(record: dict) -> tuple[str, int]:
    """Manifest order: by source, the clean original (copy null) before copies 0, 1, …"""
    copy = record.get("copy")
    return record["source"], -1 if copy is None else copy


def is_valid_record(record) -> bool:
    """Whether a record read back from a file has the fields and types ipmix wrote (a tampered or torn line
    is ignored, never trusted)."""
    if not isinstance(record, dict):
        return False
    name, source, copy, digest = (record.get(k) for k in ("file_name", "source", "copy", "sha256"))
    if not isinstance(source, str) or not isinstance(digest, str) or not _SHA256.match(digest):
        return False
    if copy is not None and (not isinstance(copy, int) or isinstance(copy, bool) or copy < 0):
        return False
    try:
        clean_relative(name)
    except UnsafePath:
        return False
    shard = record.get("shard")
    if shard is not None:
        try:
            clean_relative(shard)
        except UnsafePath:
            return False
    sig = record.get("_sig")
    return sig is None or (isinstance(sig, list) and len(sig) == 4 and all(isinstance(v, int) for v in sig))


def read_json_lines(out: SafeFolder, name: str) -> Iterator:
    """The JSON values of a JSON-lines file in OUT; torn, tampered or unparsable lines are skipped, and a
    missing or unreadable file (a link, a FIFO, a folder) reads as empty."""
    try:
        with out.open_read(name) as stream:
            for raw in stream:
                try:
                    yield json.loads(raw)
                except ValueError:
                    continue
    except (OSError, UnsafePath):
        return


def read_jsonl(out: SafeFolder, name: str) -> Iterator[dict]:
    """The JSON objects of a JSON-lines file in OUT (see :func:`read_json_lines`)."""
    return (value for value in read_json_lines(out, name) if isinstance(value, dict))


def read_records(out: SafeFolder, name: str) -> Iterator[dict]:
    return (r for r in read_jsonl(out, name) if is_valid_record(r))


def public(record: dict) -> dict:
    """A record as the manifest shows it: without ipmix's private bookkeeping."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def sorted_records(out: SafeFolder, records: Iterable[dict]) -> Iterator[dict]:
    """``records`` sorted by :func:`record_key`, stably, with memory bounded by ``SORT_CHUNK`` records: longer
    streams are sorted in chunks written to temporaries in OUT and merged."""
    chunk: list[tuple] = []
    spilled: list[str] = []
    order = 0
    try:
        for record in records:
            chunk.append((record_key(record), order, record))
            order += 1
            if len(chunk) >= SORT_CHUNK:
                spilled.append(_spill(out, chunk))
                chunk = []
        chunk.sort(key=lambda entry: entry[:2])
        if not spilled:
            yield from (record for _, _, record in chunk)
            return
        spilled.append(_spill(out, chunk))
        streams = [_read_spill(out, name) for name in spilled]
        for _, _, line in heapq.merge(*streams):
            yield json.loads(line)
    finally:
        for name in spilled:
            out.remove(name)


def _spill(out: SafeFolder, chunk: list[tuple]) -> str:
    chunk.sort(key=lambda entry: entry[:2])
    name = next_temporary_name()
    with out.open_new(name) as stream:
        for key, order, record in chunk:
            stream.write((dumps([key[0], key[1], order]) + "\t" + dumps(record) + "\n").encode("utf-8"))
    return name


def _read_spill(out: SafeFolder, name: str) -> Iterator[tuple]:
    with out.open_read(name) as stream:
        for raw in stream:
            head, _, line = raw.decode("utf-8").rstrip("\n").partition("\t")
            source, copy, order = json.loads(head)
            yield (source, copy), order, line


def current_records(out: SafeFolder, layout: Layout) -> Iterator[dict]:
    """The state and the journal folded together, sorted: one record per (source, copy), the newest winning."""
    state = _sorted_state(out, layout.state)
    journal = sorted_records(out, (r for name in layout.journals(out) for r in read_records(out, name)))
    previous = None
    pending = None
    # state first, then journal: for equal keys the later one (the journal's, or the later journal line) wins
    for record in heapq.merge(
        ((record_key(r), 0, n, r) for n, r in enumerate(state)),
        ((record_key(r), 1, n, r) for n, r in enumerate(journal)),
        key=lambda entry: entry[:3],
    ):
        key = record[0]
        if key != previous and pending is not None:
            yield pending
        previous, pending = key, record[3]
    if pending is not None:
        yield pending


def _sorted_state(out: SafeFolder, name: str) -> Iterator[dict]:
    """The state's records in order: as written (one pass checks that), or sorted again if it was edited."""
    previous = None
    for record in read_records(out, name):
        key = record_key(record)
        if previous is not None and key < previous:
            return sorted_records(out, read_records(out, name))
        previous = key
    return read_records(out, name)


def file_digest(out: SafeFolder, name: str) -> str | None:
    """SHA-256 of a file in OUT (never through a link), or None when it is missing or unreadable."""
    digest = hashlib.sha256()
    try:
        with out.open_read(name) as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except (OSError, UnsafePath):
        return None
    return digest.hexdigest()


def still_valid(out: SafeFolder, name: str, sha256: str, sig: list | None) -> list | None:
    """The current signature of ``name`` when it still holds the bytes its record says, else None.

    An unchanged signature is trusted without reading the file; any other file is hashed."""
    info = out.stat(name)
    if info is None or not _is_regular(info):
        return None
    now = signature(info)
    if sig is not None and now == sig:
        return now
    return now if file_digest(out, name) == sha256 else None


def _is_regular(info) -> bool:
    import stat as stat_module

    return stat_module.S_ISREG(info.st_mode)


# --- units (output shards) ---------------------------------------------------------------------------------


def read_units(out: SafeFolder, layout: Layout) -> dict[str, dict]:
    """The newest record of each output shard written: {name: {"name", "keys", "sha256", "_sig"}}."""
    units: dict[str, dict] = {}
    for unit in read_jsonl(out, layout.units):
        name, keys, digest = unit.get("name"), unit.get("keys"), unit.get("sha256")
        if not isinstance(name, str) or not isinstance(keys, list) or not isinstance(digest, str):
            continue
        try:
            clean_relative(name)
        except UnsafePath:
            continue
        units[name] = unit
    return units


# --- writing -------------------------------------------------------------------------------------------------


def write_state_and_manifest(out: SafeFolder, layout: Layout, records: Iterable[dict]) -> int:
    """Write the sorted ``records`` as the private state and the public manifest (both atomically)."""
    count = 0
    with out.open_new(layout.state) as state, out.open_new(layout.manifest) as manifest:
        for record in records:
            state.write((dumps(record) + "\n").encode("utf-8"))
            manifest.write((dumps(public(record)) + "\n").encode("utf-8"))
            count += 1
    return count


def write_json(out: SafeFolder, name: str, value: dict) -> None:
    out.write_bytes(name, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def read_json(out: SafeFolder, name: str) -> dict | None:
    text = out.read_text(name)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def append_lines(out: SafeFolder, name: str, values: Iterable) -> None:
    """Append JSON lines in one write (a kill can only tear the last line, which readers skip)."""
    text = "".join(dumps(value) + "\n" for value in values)
    if text:
        out.append_text(name, text)
