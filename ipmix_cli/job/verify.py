"""``ipmix verify OUT``: prove that OUT is whole, like ``restic check`` for a repository.

Checks that every manifest record's output exists with the recorded SHA-256 (reading every byte: no stored
signature is trusted here; a shard format's copies are read inside their shard, and each shard is checked
against the digest recorded when it was written), that no output lies in OUT unlisted, and with
``--replay N`` re-creates N sampled copies (from their trace, or from their seed) and compares their bytes.
Read-only; holds OUT's lock so that no run changes OUT while it is checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..disk.folder import FolderError, SafeFolder
from ..disk.lock import LockHeld, hold_folder
from ..errors import UsageError
from ..items import printable
from .state import Layout, file_digest, is_valid_record, layouts_in, read_jsonl, read_units

_BOOKKEEPING_PREFIXES = (".ipmix", "ipmix_run", "metadata")


class VerifyError(UsageError):
    """OUT cannot be verified at all (no run in it, a run writing it); a usage problem."""


@dataclass
class VerifyReport:
    records: int = 0
    problems: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    replayed: int = 0
    temporaries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unlisted


def verify(
    out_path: Path,
    replay: int = 0,
    in_folder: Path | None = None,
    mixing_set: Path | None = None,
    seed: int = 0,
) -> VerifyReport:
    try:
        out = SafeFolder(out_path)
    except FolderError as error:
        raise VerifyError(str(error.strerror or error)) from None
    try:
        with hold_folder(out, None, what="writing"):
            return _verify(out, replay, in_folder, mixing_set, seed)
    except LockHeld as error:
        raise VerifyError(f"{error}; verify when it has finished") from None


def _verify(out: SafeFolder, replay: int, in_folder, mixing_set, seed: int) -> VerifyReport:
    layouts = [layout for layout in layouts_in(out) if out.is_file(layout.manifest)]
    if not layouts:
        raise VerifyError(f"{out.path} holds no ipmix manifest (metadata.jsonl); nothing to verify")
    report = VerifyReport()
    listed: set[str] = set()
    unit_names: set[str] = set()
    members: dict[str, dict[str, str] | str] = {}  # per shard: its images' digests, or why there are none
    for layout in layouts:
        units = read_units(out, layout)
        unit_names.update(units)
        for shard, problem in _check_units(out, units):
            report.problems.append(problem)
            if problem.endswith(_MISSING_SHARD):
                members[shard] = _REPORTED  # its records are not listed one by one
        for number, record in enumerate(read_jsonl(out, layout.manifest), 1):
            report.records += 1
            if not is_valid_record(record):
                report.problems.append(f"{layout.manifest} line {number}: not a valid record")
                continue
            problem = _check(out, record, members)
            listed.add(record.get("shard") or record["file_name"])
            if problem:
                report.problems.append(problem)
    for name, entry in out.walk():
        base = name.rpartition("/")[2]
        if base.startswith(".ipmix-tmp-"):
            report.temporaries += 1
        elif "/" not in name and base.startswith(_BOOKKEEPING_PREFIXES):
            continue
        elif name not in listed and name not in unit_names:
            report.unlisted.append(name)
    if replay:
        _replay(out, layouts, replay, in_folder, mixing_set, seed, report)
    return report


def _check(out: SafeFolder, record: dict, members: dict) -> str | None:
    name = record["file_name"]
    shard = record.get("shard")
    if shard is None:
        if out.stat(name) is None:
            return f"{printable(name)}: missing"
        digest = file_digest(out, name)
        if digest != record["sha256"]:
            return f"{printable(name)}: its bytes differ from the manifest's sha256"
        return None
    if shard not in members:
        members[shard] = _member_digests(out, shard)
    found = members[shard]
    if isinstance(found, str):  # the shard itself is missing or unreadable: said once for all its records
        if found == _REPORTED:
            return None
        members[shard] = _REPORTED
        return f"{printable(shard)}: {found}"
    digest = found.get(name)
    if digest is None:
        return f"{printable(shard)}/{printable(name)}: missing"
    if digest != record["sha256"]:
        return f"{printable(shard)}/{printable(name)}: its bytes differ from the manifest's sha256"
    return None


_REPORTED = "reported with its shard"
_MISSING_SHARD = "missing (a whole shard, with all its copies)"


def _check_units(out: SafeFolder, units: dict[str, dict]) -> list[tuple[str, str]]:
    """Each output shard the run recorded is present with the digest it had when written: this also catches
    changes to what the per-copy checks do not read (a sample's ``.json`` or ``.cls``, an added member)."""
    problems = []
    for name, unit in sorted(units.items()):
        if out.stat(name) is None:
            problems.append((name, f"{printable(name)}: {_MISSING_SHARD}"))
        elif file_digest(out, name) != unit["sha256"]:
            problems.append((name, f"{printable(name)}: its bytes differ from those the run wrote"))
    return problems


def _member_digests(out: SafeFolder, shard: str) -> dict[str, str] | str:
    """SHA-256 of each sample image in an output shard, by its record's ``file_name``; or why there are none."""
    from ..writers import WRITERS, writer_class

    if out.stat(shard) is None:
        return "missing"
    extension = shard.rpartition(".")[2]
    for name in WRITERS:
        cls = writer_class(name)
        if getattr(cls, "extension", None) == extension and hasattr(cls, "read_images"):
            try:
                return {member: hashlib.sha256(data).hexdigest() for member, data in cls.read_images(out, shard)}
            except (OSError, ValueError, ImportError) as error:
                return f"cannot be read ({error})"
    return "is of no known shard format"


def _replay(out: SafeFolder, layouts, count: int, in_folder, mixing_set, seed: int, report: VerifyReport) -> None:
    from .replay import Replayer, ReplayError

    records = [r for layout in layouts for r in read_jsonl(out, layout.manifest) if is_valid_record(r)]
    if not records:
        return
    chosen = np.random.default_rng(seed).choice(len(records), size=min(count, len(records)), replace=False)
    try:
        replayer = Replayer(out.path, in_folder, mixing_set)
    except ReplayError as error:
        report.problems.append(f"replay: {error}")
        return
    for index in sorted(int(i) for i in chosen):
        record = records[index]
        where = record["file_name"] if "shard" not in record else f"{record['shard']}/{record['file_name']}"
        try:
            digest = hashlib.sha256(replayer.encoded(record)).hexdigest()
        except Exception as error:  # noqa: BLE001 - any failure to replay is a finding, reported per record
            report.problems.append(f"{printable(where)}: cannot be replayed: {error}")
            continue
        report.replayed += 1
        if digest != record["sha256"]:
            how = "its trace" if record.get("trace") else "its seed"
            report.problems.append(f"{printable(where)}: replaying {how} gives other bytes than the manifest's")


__all__ = ["Layout", "VerifyError", "VerifyReport", "verify"]
