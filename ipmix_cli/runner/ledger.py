"""The ledger: the only code that reads or writes ipmix's own files in OUT (SPEC §4 "Manifest", "Resume"; §6).

It keeps, for every output format and every job, the same things the same way (``layout`` names the files):
the run record, the *units* each task wrote (``records.UnitRecord``: one input's outputs, one picture, or one
output shard), appended to per-worker journals the moment their files exist and folded into a state sorted by
unit name, and the public manifest regenerated from the state. Workers only append; the driver folds,
validates and writes.

- **Folding** merges the state and the journals (newest last) into one record per unit, streaming: the
  journals are sorted in chunks spilled to temporaries in OUT, so memory does not grow with the run.
- **Validating** keeps a file only when it is present with its recorded bytes: an unchanged signature
  (size, times, inode) is trusted, any other file is hashed.
- **The manifest** lists exactly the outputs of valid units, in unit order, each unit's outputs in its order;
  its SHA-256 goes into the run record, so ``verify`` can tell an edited manifest from the one the run wrote.

Nothing read back is trusted: a line that is not a unit ipmix writes is ignored (its outputs are made again),
names are checked by ``clean_relative``, and removal deletes only names that the job says it gives outputs.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import stat
from array import array
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from ..disk.atomic import next_temporary_name, process_token
from ..disk.folder import SafeFolder, UnsafePath, clean_relative, describe_os_error
from ..errors import RunFault
from ..formats.jsonlines import dumps
from ..formats.records import FileEntry, RunRecord, UnitRecord, signature
from ..labels import is_label
from .layout import Layout

#: Ledger lines held in memory at once while sorting a file that is out of order (bytes); more are sorted in
#: chunks spilled to OUT.
SORT_BYTES = 8 * 2**20
#: The longest line read back from a ledger file: a shard's unit lists its records (1,000 by default).
MAX_LINE_BYTES = 256 * 2**20


@dataclass
class Finalized:
    """What the manifest holds after a fold: its records, the units behind them, per split, its digest."""

    records: int = 0
    units: int = 0
    files: int = 0
    splits: dict = field(default_factory=dict)  # split → records
    sha256: str | None = None
    split_manifests: dict = field(default_factory=dict)  # each split's manifest (its path in OUT) → SHA-256
    labels: set = field(default_factory=set)  # the labels the records carry (class names or numbers)


class Ledger:
    """The ledger of one layout in OUT (see the module docstring). ``order(record)`` sorts the outputs of a
    unit that was extended (e.g. by raising ``--k``); ``job`` names whose run records are ours; ``claims(unit,
    record)`` says whether a per-file unit may hold an output record read back (a forged or edited line that
    claims another input's output is then dropped, never listed twice); ``per_file`` (a per-file format) keeps
    of a unit edited out of that shape (records and files that do not pair up) only the pairs that do."""

    def __init__(
        self,
        out: SafeFolder,
        layout: Layout,
        job: str | None,
        order: Callable[[dict], object] | None = None,
        read_only: bool = False,
        claims: Callable[[str, dict], bool] | None = None,
        per_file: bool | None = None,
    ):
        self.out, self.layout, self.job, self.order, self.claims = out, layout, job, order, claims
        self.per_file = per_file  # True: a per-file format, whose every unit must be one (None: not known)
        self.read_only = read_only  # readers that write nothing (verify, --dry-run) sort in memory, never in OUT

    # --- the run record -------------------------------------------------------------------------------

    def read_run(self) -> RunRecord | None:
        return RunRecord.from_json(read_json(self.out, self.layout.run_record), self.job)

    def write_run(self, record: RunRecord) -> None:
        write_json(self.out, self.layout.run_record, record.to_json())

    # --- units --------------------------------------------------------------------------------------------

    def units(self) -> Iterator[UnitRecord]:
        """The state and the journals folded together: one record per unit, in unit order (see ``fold``).

        Each file is merged as a sorted stream: the state is written sorted, and a worker's journal is
        sorted too when the worker was handed its tasks in order (as it is); a file that is not (edited, or
        a task made again later) is sorted in chunks spilled to OUT. Memory does not grow with the run."""
        names = [self.layout.state, *self.layout.journals(self.out)]
        streams = [_sorted_file(self.out, name, spill=not self.read_only) for name in names]
        pending: UnitRecord | None = None
        for _, _, _, unit in heapq.merge(*(_ranked(stream, rank) for rank, stream in enumerate(streams)), key=_first3):
            if pending is not None and pending.unit == unit.unit:
                pending = pending.merged(unit, self.order)
                continue
            if pending is not None:
                yield pending
            pending = unit
        if pending is not None:
            yield pending

    def _state_lines(self) -> Iterator[UnitRecord]:
        return _lines(self.out, self.layout.state)

    def fold(self) -> None:
        """Fold the journals left by earlier runs into the state (a run starts from one state, so that its own
        journals are the only newer records), then remove them."""
        journals = self.layout.journals(self.out)
        if not journals:
            return
        with self.out.open_new(self.layout.state) as state:
            for unit in self.units():
                state.write((dumps(unit.to_json()) + "\n").encode("utf-8"))
        for name in journals:
            self.out.remove(name)

    def has_journals(self) -> bool:
        return bool(self.layout.journals(self.out))

    def journal(self) -> Journal:
        """This process's journal (workers append each finished unit to it)."""
        return Journal(self.out, self.layout.journal_prefix)

    # --- validating and writing ------------------------------------------------------------------------

    def still_valid(self, entry: FileEntry) -> tuple | None:
        """The current signature of ``entry``'s file when it still holds the recorded bytes, else None."""
        return still_valid(self.out, entry.name, entry.sha256, entry.sig)

    def validated(self, unit: UnitRecord) -> UnitRecord | None:
        """``unit`` with only its files that still hold their recorded bytes (signatures refreshed); a shard unit
        whose shard is damaged, or a unit with no file left, is None."""
        if unit.per_file or self.per_file:  # (in a per-file format, a unit edited out of shape keeps its pairs)
            kept = []
            for entry, record in zip(unit.files, unit.records):
                if not self._claimed(unit.unit, entry, record):
                    continue
                sig = self.still_valid(entry)
                if sig is not None:
                    kept.append((FileEntry(entry.name, entry.sha256, sig), record))
            if not kept and unit.files:
                return None
            return UnitRecord(
                unit.unit,
                unit.inputs,
                tuple(e for e, _ in kept),
                tuple(r for _, r in kept),
                unit.failed,
                unit.classes,
            )
        files = []
        for entry in unit.files:
            sig = self.still_valid(entry)
            if sig is None:
                return None
            files.append(FileEntry(entry.name, entry.sha256, sig))
        return UnitRecord(unit.unit, unit.inputs, tuple(files), unit.records, unit.failed, unit.classes)

    def _claimed(self, unit: str, entry: FileEntry, record: dict) -> bool:
        if record.get("file_name") != entry.name or (self.per_file and "shard" in record):
            return False
        return self.claims is None or self.claims(unit, record)

    def finalize(
        self,
        split_of: Callable[[dict], str | None] | None = None,
        keep: Callable[[UnitRecord], UnitRecord | None] | None = None,
        present: Callable[[str], bool] | None = None,
    ) -> Finalized:
        """Fold the journals into the state and write the manifest of exactly the outputs present and intact
        (and, with ``split_of``, each split's own ``<split>/metadata.jsonl`` with names relative to it). ``keep``
        may change a unit or leave it out (None; its files are the caller's). Journals are removed last.

        An output name claimed by two units is listed by the one whose input is ``present`` in IN when it is
        the only such one (an input gone whose kept output has the name and bytes a new input's output has),
        else by neither (a ledger line forged or edited to claim another input's output, with its record made to
        name that input too: the next run makes the output again for the input whose output it is). The state
        and the manifests are then written again, from the state just written (only then). Telling that apart
        costs a hash of each name."""
        journals = self.layout.journals(self.out)
        hashes = array("q")
        done = self._write(self.units(), split_of, keep, hashes)
        twice = _repeated(hashes)
        if twice:
            claimed: dict[str, list[str]] = {}
            for unit in self._state_lines():
                for entry in unit.files:
                    if hash(entry.name) in twice:
                        claimed.setdefault(entry.name, []).append(unit.unit)
            owners = {}
            for name, units in claimed.items():
                if len(units) > 1:
                    current = [unit for unit in units if present is not None and present(unit)]
                    owners[name] = current[0] if len(current) == 1 else None
            if owners:
                done = self._write(self._state_lines(), split_of, None, None, owners)
        for name in journals:
            self.out.remove(name)
        return done

    def _write(self, units, split_of, keep, hashes: array | None, owners: dict | None = None) -> Finalized:
        """The state, manifest and split manifests of ``units`` (see :meth:`finalize`); the hash of every
        output name goes to ``hashes``; an output named in ``owners`` is kept by its owner's unit alone (units
        already checked)."""
        done = Finalized()
        digest = hashlib.sha256()
        with ExitStack() as stack:
            stack.enter_context(self.out.session())
            state = stack.enter_context(self.out.open_new(self.layout.state))
            manifest = stack.enter_context(self.out.open_new(self.layout.manifest))
            split_streams: dict[str, tuple] = {}  # split → (its manifest's path, stream, digest)
            for unit in units:
                if keep is not None:
                    unit = keep(unit)
                    if unit is None:
                        continue
                unit = self.validated(unit) if owners is None else _without(unit, owners)
                if unit is None:
                    continue
                if hashes is not None:
                    hashes.extend(hash(entry.name) for entry in unit.files)
                state.write((dumps(unit.to_json()) + "\n").encode("utf-8"))
                done.units += 1
                done.files += len(unit.files)
                for record in unit.records:
                    label = record.get("label")
                    if is_label(label):
                        done.labels.add(label)
                    line = (dumps(record) + "\n").encode("utf-8")
                    manifest.write(line)
                    digest.update(line)
                    done.records += 1
                    split = split_of(record) if split_of else None
                    if split:
                        if split not in split_streams:
                            name = split_manifest(split)
                            split_streams[split] = (
                                name,
                                stack.enter_context(self.out.open_new(name)),
                                hashlib.sha256(),
                            )
                        relative = {**record, "file_name": record["file_name"][len(split) + 1 :]}
                        line = (dumps(relative) + "\n").encode("utf-8")
                        split_streams[split][1].write(line)
                        split_streams[split][2].update(line)
                        done.splits[split] = done.splits.get(split, 0) + 1
        done.sha256 = digest.hexdigest()
        done.split_manifests = {name: split_digest.hexdigest() for name, _, split_digest in split_streams.values()}
        return done

    def manifest_sha256(self) -> str | None:
        """The SHA-256 of the manifest as it is now (None when missing or unreadable)."""
        return file_digest(self.out, self.layout.manifest)

    def manifest_labels(self) -> set:
        """The labels the manifest's records carry (a re-run with nothing to do names these in the run record,
        not a class list read back from it, which may have been edited)."""
        labels = set()
        for record in read_json_lines(self.out, self.layout.manifest):
            label = record.get("label") if isinstance(record, dict) else None
            if is_label(label):
                labels.add(label)
        return labels

    # --- removing ----------------------------------------------------------------------------------------

    def remove_everything(self, owns: Callable[[str], bool]) -> int:
        """Delete what this layout's runs wrote, as its own files list it, and its bookkeeping; nothing else.
        Names read back are used only when ``owns`` says the job gives outputs such names (a tampered file
        cannot make this delete a user's file), and never through a link (``SafeFolder``)."""
        names: set[str] = set()
        sources = [self.layout.state, self.layout.manifest, *self.layout.journals(self.out)]
        for source in sources:
            for value in read_json_lines(self.out, source):
                names.update(_named_outputs(value))
        removed = self.remove_files(sorted(name for name in names if owns(name)))
        self.remove_split_manifests(self.read_run(), keep=())
        for name in [*self.layout.files(), *self.layout.journals(self.out)]:
            self.out.remove(name)
        return removed

    def remove_split_manifests(self, record: RunRecord | None, keep: Iterable[str]) -> None:
        """Delete the split manifests ``record`` lists but ``keep`` does not (a split no run writes any more),
        and the split folders they leave empty."""
        if record is None or not record.split_manifests:
            return
        stale = [name for name in record.split_manifests if name not in set(keep)]
        self.remove_files(stale)

    def remove_files(self, names: Iterable[str]) -> int:
        """Delete the files ``names`` (checked names, never through a link) and the folders they leave empty."""
        removed = 0
        folders: set[str] = set()
        for name in names:
            try:
                clean_relative(name)
            except UnsafePath:
                continue
            if self.out.remove(name):
                removed += 1
                parts = name.split("/")[:-1]
                folders.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
        for folder in sorted(folders, key=lambda f: -f.count("/")):
            self.out.remove_empty_folder(folder)
        return removed


def split_manifest(split: str) -> str:
    """The path in OUT of split ``split``'s own manifest (what Hugging Face's imagefolder reads per split)."""
    return f"{split}/metadata.jsonl"


def _named_outputs(value) -> Iterator[str]:
    """Output names a ledger line mentions: a unit's files, or (ipmix 0.3.0's lines) a record's ``file_name`` or
    ``shard``."""
    if not isinstance(value, dict):
        return
    unit = UnitRecord.from_json(value)
    if unit is not None:
        yield from (entry.name for entry in unit.files)
        return
    for key in ("shard", "file_name"):
        name = value.get(key)
        if isinstance(name, str):
            yield name
            if key == "shard":
                return


class Journal:
    """A process's journal: each finished unit appended as soon as its files exist (one write per unit; a kill
    can tear only the last line, which readers skip). Opened at the first append, closed by :meth:`close`."""

    def __init__(self, out: SafeFolder, prefix: str):
        self.out, self.name = out, f"{prefix}{process_token()}.jsonl"
        self._file = ExitStack()
        self._append = None

    def record(self, unit: UnitRecord) -> None:
        text = dumps(unit.to_json()) + "\n"
        try:
            if self._append is None:
                self._append = self._file.enter_context(self.out.open_append(self.name))
            self._append(text)
        except OSError as error:  # any fault of the journal stops the run: it names the journal's full path
            raise RunFault(describe_os_error(error, str(self.out.path / self.name))) from None

    def close(self) -> None:
        self._append = None
        try:
            self._file.close()
        except OSError:  # every append has been written; a failing close loses nothing
            pass


# --- reading lines back -----------------------------------------------------------------------------------


def _repeated(hashes: array) -> set[int]:
    """The values that occur more than once in ``hashes``."""
    if len(hashes) < 2:
        return set()
    values = np.sort(np.frombuffer(hashes, dtype=np.int64))
    return set(values[1:][values[1:] == values[:-1]].tolist())


def _without(unit: UnitRecord, owners: dict) -> UnitRecord | None:
    """``unit`` without the outputs ``owners`` gives another unit or none (None when no output is left)."""
    pairs = [
        (entry, record)
        for entry, record in zip(unit.files, unit.records)
        if entry.name not in owners or owners[entry.name] == unit.unit
    ]
    if len(pairs) == len(unit.files):
        return unit
    if not pairs or not unit.per_file:
        return None
    return UnitRecord(
        unit.unit, unit.inputs, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), unit.failed, unit.classes
    )


def read_json_lines(out: SafeFolder, name: str) -> Iterator:
    """The JSON values of a JSON-lines file in OUT; torn, tampered or unparsable lines are skipped, and a
    missing or unreadable file (a link, a FIFO, a folder) reads as empty."""
    try:
        with out.open_read(name) as stream:
            while True:
                raw = stream.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                if len(raw) > MAX_LINE_BYTES or not raw.endswith(b"\n"):
                    if len(raw) > MAX_LINE_BYTES:  # skip the rest of an overlong line
                        while raw and not raw.endswith(b"\n"):
                            raw = stream.readline(MAX_LINE_BYTES)
                    continue  # an overlong line, or a torn last one
                try:
                    yield json.loads(raw)
                except (ValueError, RecursionError):
                    continue
    except (OSError, UnsafePath):
        return


def _lines(out: SafeFolder, name: str) -> Iterator[UnitRecord]:
    for value in read_json_lines(out, name):
        unit = UnitRecord.from_json(value)
        if unit is not None:
            yield unit


def _ranked(stream: Iterable[UnitRecord], rank: int) -> Iterator[tuple]:
    """(unit name, rank of its file, place in its file, unit): later files and lines win at equal names."""
    for place, unit in enumerate(stream):
        yield unit.unit, rank, place, unit


def _first3(entry: tuple) -> tuple:
    return entry[:3]


def _sorted_file(out: SafeFolder, name: str, spill: bool = True) -> Iterator[UnitRecord]:
    """The units of the ledger file ``name``, sorted by unit name: read twice when it is in order (once to
    check, once to stream), else sorted through :func:`_sorted`."""
    previous = None
    for unit in _lines(out, name):
        if previous is not None and unit.unit < previous:
            return _sorted(out, _lines(out, name), spill)
        previous = unit.unit
    return _lines(out, name)


def _sorted(out: SafeFolder, units: Iterable[UnitRecord], spill: bool = True) -> Iterator[UnitRecord]:
    """``units`` sorted by unit name, stably, with memory bounded by ``SORT_BYTES``: a stream already in order
    passes through; otherwise chunks are sorted, spilled to temporaries in OUT and merged. Without ``spill``
    (a reader that must write nothing) the whole file is sorted in memory."""
    chunk: list[tuple[str, int, str]] = []
    spilled: list[str] = []
    held = 0
    order = 0
    in_order = True
    previous = None
    try:
        for unit in units:
            line = dumps(unit.to_json())
            if previous is not None and unit.unit < previous:
                in_order = False
            previous = unit.unit
            chunk.append((unit.unit, order, line))
            order += 1
            held += len(line)
            if held >= SORT_BYTES and (spill or in_order):
                if in_order and not spilled:
                    yield from (UnitRecord.from_json(json.loads(text)) for _, _, text in chunk)
                    chunk, held = [], 0
                    continue
                spilled.append(_spill(out, chunk))
                chunk, held = [], 0
        if not spilled:
            if not in_order:
                chunk.sort(key=lambda entry: entry[:2])
            yield from (UnitRecord.from_json(json.loads(text)) for _, _, text in chunk)
            return
        spilled.append(_spill(out, chunk))
        streams = [_read_spill(out, name) for name in spilled]
        for _, _, text in heapq.merge(*streams, key=lambda entry: entry[:2]):
            yield UnitRecord.from_json(json.loads(text))
    finally:
        for name in spilled:
            out.remove(name)


def _spill(out: SafeFolder, chunk: list[tuple[str, int, str]]) -> str:
    chunk.sort(key=lambda entry: entry[:2])
    name = next_temporary_name()
    try:
        with out.open_new(name) as stream:
            for unit, order, text in chunk:
                stream.write((dumps([unit, order]) + "\t" + text + "\n").encode("utf-8"))
    except OSError as error:
        raise RunFault(f"sorting the ledger needs room in OUT: {describe_os_error(error, str(out.path))}") from None
    return name


def _read_spill(out: SafeFolder, name: str) -> Iterator[tuple[str, int, str]]:
    with out.open_read(name) as stream:
        for raw in stream:
            head, _, text = raw.decode("utf-8").rstrip("\n").partition("\t")
            unit, order = json.loads(head)
            yield unit, order, text


# --- small helpers for ipmix's own files --------------------------------------------------------------------


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


def still_valid(out: SafeFolder, name: str, sha256: str, sig) -> tuple | None:
    """The current signature of ``name`` when it still holds the bytes its record says, else None. An
    unchanged signature is trusted without reading the file; any other file is hashed."""
    try:
        info = out.stat(name)
    except (OSError, UnsafePath):
        return None
    if info is None or not stat.S_ISREG(info.st_mode):
        return None
    now = signature(info)
    if sig is not None and tuple(sig) == now:
        return now
    return now if file_digest(out, name) == sha256 else None


def write_json(out: SafeFolder, name: str, value: dict) -> None:
    """``value`` as indented JSON (a lone surrogate that slipped into a string is written escaped, ``\\udcxx``,
    so the file is always valid UTF-8)."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    out.write_bytes(name, text.encode("utf-8", "backslashreplace"))


def read_json(out: SafeFolder, name: str) -> dict | None:
    try:
        with out.open_read(name) as stream:
            data = stream.read(MAX_LINE_BYTES + 1)
    except (OSError, UnsafePath):
        return None
    if len(data) > MAX_LINE_BYTES:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def append_lines(out: SafeFolder, name: str, values: Iterable) -> None:
    """Append JSON lines in one write (a kill can only tear the last line, which readers skip)."""
    text = "".join(dumps(value) + "\n" for value in values)
    if text:
        out.append_text(name, text)


def write_lines(out: SafeFolder, name: str, values: Iterable) -> None:
    """Write JSON lines atomically."""
    with out.open_new(name) as stream:
        for value in values:
            stream.write((dumps(value) + "\n").encode("utf-8"))
