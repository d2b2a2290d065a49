"""The records the ledger keeps, each defined once, typed, and read back without trust.

A *unit* is what one task writes whole: one input's outputs for the ``files`` format (and for ``fractals
build``: one picture), or one output shard for the shard formats. Its record says which inputs it was made
from (key and identity: size, modification time and, where the worker read them, the SHA-256 of the input's
bytes), which files it wrote (name, SHA-256, and the file's signature after writing, so that a resume trusts
an unchanged file by one ``stat``), the public records of its outputs (the manifest's lines) and the inputs
that failed in it.

Everything read back from OUT is validated field by field (:meth:`UnitRecord.from_json` returns None for a
torn, edited or forged line); names must be clean relative names (``disk.folder.clean_relative``), so nothing
read back can name a file outside OUT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..disk.folder import UnsafePath, clean_relative

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean(name) -> bool:
    try:
        clean_relative(name)
    except UnsafePath:
        return False
    return True


def signature(info) -> tuple[int, int, int, int]:
    """What identifies a file's bytes without reading them: size, times and inode. Any change to the file
    (even one that restores its modification time) changes its ctime, so a file whose signature still matches
    its record is trusted; any other is hashed again."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


@dataclass(frozen=True)
class FileEntry:
    """A file a unit wrote: its name in OUT, the SHA-256 of its bytes, its signature when written."""

    name: str
    sha256: str
    sig: tuple[int, int, int, int] | None = None

    def to_json(self) -> list:
        return [self.name, self.sha256, list(self.sig) if self.sig else None]

    @classmethod
    def from_json(cls, value) -> FileEntry | None:
        if not isinstance(value, list) or len(value) != 3:
            return None
        name, digest, sig = value
        if not _clean(name) or not isinstance(digest, str) or not _SHA256.match(digest):
            return None
        if sig is not None and not (isinstance(sig, list) and len(sig) == 4 and all(_int(v) for v in sig)):
            return None
        return cls(name, digest, tuple(sig) if sig is not None else None)


@dataclass(frozen=True)
class InputEntry:
    """An input a unit was made from, as it was when read: its key and identity."""

    key: str
    size: int = -1
    mtime_ns: int = -1
    sha256: str | None = None  # of the bytes the worker read, where it read them whole

    def to_json(self) -> list:
        return [self.key, self.size, self.mtime_ns, self.sha256]

    @classmethod
    def from_json(cls, value) -> InputEntry | None:
        if not isinstance(value, list) or len(value) != 4:
            return None
        key, size, mtime, digest = value
        if not isinstance(key, str) or not key or not _int(size) or not _int(mtime):
            return None
        if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
            return None
        return cls(key, size, mtime, digest)

    def same_input(self, size: int, mtime_ns: int) -> bool:
        """Whether an input now of ``size`` and ``mtime_ns`` is surely the one recorded (a touched file with the
        same bytes is recognised by its digest instead, see ``ledger.Ledger.changed``)."""
        return size == self.size and mtime_ns == self.mtime_ns


@dataclass(frozen=True)
class UnitRecord:
    """One unit (see the module docstring). ``records[i]`` describes ``files[i]`` for per-file formats; a shard
    unit has one file and a record per output stored in it."""

    unit: str
    inputs: tuple[InputEntry, ...] = ()
    files: tuple[FileEntry, ...] = ()
    records: tuple[dict, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    classes: str | None = None  # shard formats: the digest of the class list the shard was numbered with

    def to_json(self) -> dict:
        line = {
            "unit": self.unit,
            "inputs": [entry.to_json() for entry in self.inputs],
            "files": [entry.to_json() for entry in self.files],
            "records": list(self.records),
        }
        if self.failed:
            line["failed"] = [list(pair) for pair in self.failed]
        if self.classes is not None:
            line["classes"] = self.classes
        return line

    @classmethod
    def from_json(cls, value) -> UnitRecord | None:
        """The unit a line read back from OUT describes, or None when it is not one ipmix wrote."""
        if not isinstance(value, dict):
            return None
        unit, inputs, files, records = (value.get(k) for k in ("unit", "inputs", "files", "records"))
        if not isinstance(unit, str) or not unit or not all(isinstance(v, list) for v in (inputs, files, records)):
            return None
        parsed_inputs = tuple(InputEntry.from_json(entry) for entry in inputs)
        parsed_files = tuple(FileEntry.from_json(entry) for entry in files)
        if None in parsed_inputs or None in parsed_files or not parsed_files and records:
            return None
        if not all(_valid_record(record, parsed_files) for record in records):
            return None
        failed = value.get("failed") or []
        if not isinstance(failed, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair) for pair in failed
        ):
            return None
        classes = value.get("classes")
        if classes is not None and not isinstance(classes, str):
            return None
        return cls(unit, parsed_inputs, parsed_files, tuple(records), tuple(map(tuple, failed)), classes)

    @property
    def per_file(self) -> bool:
        """Whether each output is a file of its own (``records[i]`` is ``files[i]``'s) rather than a shard member."""
        return len(self.files) == len(self.records) and all(
            record.get("file_name") == entry.name and "shard" not in record
            for record, entry in zip(self.records, self.files)
        )

    def merged(self, newer: UnitRecord, order=None) -> UnitRecord:
        """This unit updated by a later record of it: a per-file unit made again from the same inputs keeps the
        files the later record did not redo (raising ``--k`` adds copies); anything else is replaced whole.
        ``order(record)`` sorts the outputs of a merged unit (the job's order of outputs)."""
        same_inputs = [(e.key, e.size, e.mtime_ns) for e in self.inputs] == [
            (e.key, e.size, e.mtime_ns) for e in newer.inputs
        ]
        if not (same_inputs and self.per_file and newer.per_file):
            return newer
        kept = {entry.name: (entry, record) for entry, record in zip(self.files, self.records)}
        for entry, record in zip(newer.files, newer.records):
            kept[entry.name] = (entry, record)
        place = {name: index for index, name in enumerate(kept)}
        pairs = sorted(kept.values(), key=lambda pair: ((order(pair[1]) if order else 0), place[pair[0].name]))
        inputs = tuple(
            replace(entry, sha256=entry.sha256 or old.sha256) for entry, old in zip(newer.inputs, self.inputs)
        )
        return replace(
            newer,
            inputs=inputs,
            files=tuple(pair[0] for pair in pairs),
            records=tuple(pair[1] for pair in pairs),
        )


def _valid_record(record, files: tuple[FileEntry, ...]) -> bool:
    """A public output record as ipmix writes it: a JSON object naming a clean file, with a SHA-256."""
    if not isinstance(record, dict):
        return False
    name, digest = record.get("file_name"), record.get("sha256")
    if not _clean(name) or not isinstance(digest, str) or not _SHA256.match(digest):
        return False
    shard = record.get("shard")
    return shard is None or _clean(shard)


@dataclass
class RunRecord:
    """``ipmix_run.json`` (``ipmix_fractals.json`` for a mixing set): what a run was asked, what it did."""

    job: str
    identity: dict
    status: str = "running"
    command: list = field(default_factory=list)
    seed: int | None = None
    shard: tuple[int, int] | None = None
    counts: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # the job's own top-level fields (k, classes, mixing_set, …)
    stopped_because: str | None = None
    manifest_sha256: str | None = None  # of the manifest this run wrote last: ``verify`` checks it
    split_manifests: dict | None = None  # each split's own manifest (its path in OUT) → its SHA-256, likewise
    parquet_manifest_sha256: str | None = None  # of the WebDataset format's metadata.parquet, likewise
    ipmix_version: str = ""

    def to_json(self) -> dict:
        from .. import __version__

        value = {
            "ipmix_version": self.ipmix_version or __version__,
            "job": self.job,
            "command": list(self.command),
            "identity": self.identity,
            **self.extra,
            "shard": list(self.shard) if self.shard else None,
            "status": self.status,
        }
        if self.seed is not None or "seed" in self.identity:
            value["seed"] = self.seed
        if self.counts:
            value["counts"] = self.counts
        if self.counts or self.failures:
            value["failures"] = self.failures
        if self.timings:
            value["timings"] = self.timings
        if self.stopped_because is not None:
            value["stopped_because"] = self.stopped_because
        if self.manifest_sha256 is not None:
            value["manifest_sha256"] = self.manifest_sha256
        if self.split_manifests:
            value["split_manifests"] = dict(sorted(self.split_manifests.items()))
        if self.parquet_manifest_sha256 is not None:
            value["parquet_manifest_sha256"] = self.parquet_manifest_sha256
        return value

    @classmethod
    def from_json(cls, value, job: str | None) -> RunRecord | None:
        """The record read back from OUT, or None when it is not one ipmix wrote for ``job`` (None: any job).
        (A record of ipmix 0.3.0, which has no ``job`` field, is read as an ``augment`` record.)"""
        if not isinstance(value, dict) or not isinstance(value.get("identity"), dict):
            return None
        recorded_job = value.get("job", "augment")
        if not isinstance(recorded_job, str) or job is not None and recorded_job != job:
            return None
        known = {
            "ipmix_version",
            "job",
            "command",
            "identity",
            "shard",
            "status",
            "seed",
            "counts",
            "failures",
            "timings",
            "stopped_because",
            "manifest_sha256",
            "split_manifests",
            "parquet_manifest_sha256",
        }
        shard = value.get("shard")
        if shard is not None and not (isinstance(shard, list) and len(shard) == 2 and all(_int(v) for v in shard)):
            return None
        seed = value.get("seed")
        digest = value.get("manifest_sha256")
        splits = value.get("split_manifests")
        parquet = value.get("parquet_manifest_sha256")
        if not isinstance(splits, dict) or not all(
            _clean(name)
            and name.count("/") == 1
            and name.endswith("/metadata.jsonl")
            and isinstance(sha, str)
            and _SHA256.match(sha)
            for name, sha in splits.items()
        ):
            splits = None
        return cls(
            job=recorded_job,
            identity=value["identity"],
            status=str(value.get("status", "")),
            command=value.get("command") if isinstance(value.get("command"), list) else [],
            seed=seed if _int(seed) and seed >= 0 else None,
            shard=tuple(shard) if shard else None,
            counts=value.get("counts") if isinstance(value.get("counts"), dict) else {},
            failures=[f for f in value.get("failures") or [] if isinstance(f, dict)]
            if isinstance(value.get("failures"), list)
            else [],
            timings=value.get("timings") if isinstance(value.get("timings"), dict) else {},
            extra={k: v for k, v in value.items() if k not in known},
            stopped_because=value.get("stopped_because") if isinstance(value.get("stopped_because"), str) else None,
            manifest_sha256=digest if isinstance(digest, str) and _SHA256.match(digest) else None,
            split_manifests=splits or None,
            parquet_manifest_sha256=parquet if isinstance(parquet, str) and _SHA256.match(parquet) else None,
            ipmix_version=str(value.get("ipmix_version", "")),
        )
