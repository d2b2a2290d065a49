"""``ipmix verify OUT``: prove that OUT is whole, like ``restic check`` for a repository.

For every run (or job shard) in OUT, it checks:

- that the manifest is the one the run wrote: its SHA-256 against the run record's, each line valid JSON Lines
  (a torn or malformed line, a duplicated one and a record naming one of ipmix's own files are problems), and
  each record exactly as the ledger's state recorded it (an edited label, seed or size is found even when the
  edit kept its ``sha256``);
- that every output exists with the recorded SHA-256, reading every byte (no stored signature is trusted
  here; a shard format's copies are read inside their shard, and each shard is checked against the digest
  recorded when it was written);
- that nothing else lies in OUT: a file no manifest lists, or an empty folder (``ImageFolder`` would take it
  for a class without images), is reported;
- with ``--replay N``, that N sampled copies made again (from their trace, or their seed) have the same bytes.

It never writes: OUT may be read-only or another user's. It takes a shared lock on ``.ipmix.lock`` when it can
open it, so that it never checks an OUT a run is writing; an OUT whose lock file cannot be opened is checked
without one. Shards of a run hold that lock shared too, so verify also refuses while a shard's own lock is held,
and calls its check void when a shard's lock was made or stamped while it read OUT.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..disk.folder import FolderError, SafeFolder, UnsafePath, clean_relative
from ..disk.lock import shard_is_running
from ..errors import UsageError
from ..formats.jsonlines import dumps
from ..formats.records import RunRecord
from ..items import name_text, printable
from ..labels import classes_digest, is_label
from .layout import METADATA_NAMES, Layout, is_public_name, layouts_in
from .ledger import MAX_LINE_BYTES, Ledger, file_digest, split_manifest

RECORD_BASES = {"ipmix_run": None, "ipmix_fractals": "fractals"}  # record base → the job it records (None: any)


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


def verify(out_path: Path, replay: int = 0, replayer=None, seed: int = 0) -> VerifyReport:
    """Check OUT (see the module docstring); ``replayer(out, records, count, seed, report)`` replays copies."""
    try:
        out = SafeFolder(out_path)
    except FolderError as error:
        raise VerifyError(str(error.strerror or error)) from None
    lock = _shared_lock(out)
    try:
        shard_locks = _shard_locks(out)
        _refuse_running_shards(out, shard_locks)
        report = _verify(out, replay, replayer, seed)
        after = _shard_locks(out)
        if after != shard_locks:  # a shard started (or ran) while OUT was read: the check is void
            changed = sorted(set(after.items()) ^ set(shard_locks.items()))
            raise VerifyError(
                f"shard {_shard_label(changed[0][0])} of a run wrote {out.path} while it was verified; "
                "verify again when no shard is running"
            )
        return report
    finally:
        if lock is not None:
            os.close(lock)


_SHARD_LOCK = re.compile(r"\.ipmix-shard-(\d+)-of-(\d+)\.lock")


def _shard_locks(out: SafeFolder) -> dict[str, int]:
    """The lock files of the shards that ever ran in OUT (name → time stamp: a shard stamps its lock when it
    starts). Shards hold OUT's run lock shared, as verify does, so their own locks tell verify about them."""
    try:
        names = os.listdir(out.path)
    except OSError:
        return {}
    stamps = {}
    for name in names:
        if _SHARD_LOCK.fullmatch(name):
            info = out.stat(name)
            if info is not None:
                stamps[name] = info.st_mtime_ns
    return stamps


def _shard_label(name: str) -> str:
    index, count = _SHARD_LOCK.fullmatch(name).groups()
    return f"{index}/{count}"


def _refuse_running_shards(out: SafeFolder, shard_locks: dict[str, int]) -> None:
    for name in sorted(shard_locks):
        index, count = _SHARD_LOCK.fullmatch(name).groups()
        if shard_is_running(out, (int(index), int(count))):
            raise VerifyError(f"shard {index}/{count} of a run is writing {out.path}; verify when it has finished")


def _shared_lock(out: SafeFolder) -> int | None:
    """A shared lock on OUT's lock file, opened read-only and never through a link (None when there is no
    such file or it cannot be opened: nothing is created); :class:`VerifyError` while a run writes OUT."""
    try:
        fd = os.open(out.path / ".ipmix.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise VerifyError(f"another ipmix run is writing {out.path}; verify when it has finished") from None
    except OSError as error:
        if error.errno not in (errno.ENOLCK, errno.EINVAL, errno.EBADF):
            os.close(fd)
            raise
    return fd


def _verify(out: SafeFolder, replay: int, replayer, seed: int) -> VerifyReport:
    found: list[tuple[Layout, str]] = []
    for base, job in reversed(RECORD_BASES.items()):
        layouts = [layout for layout in layouts_in(out, base) if out.is_file(layout.manifest)]
        if base != "ipmix_run":  # a state without a record is reported under augment's name, once
            layouts = [layout for layout in layouts if out.is_file(layout.run_record)]
        else:  # … unless it is the state of another job's record (a mixing set's)
            claimed = {layout.state for layout, _ in found}
            layouts = [layout for layout in layouts if out.is_file(layout.run_record) or layout.state not in claimed]
        found = [(layout, job) for layout in layouts] + found
    if not found:
        raise VerifyError(f"{out.path} holds no ipmix manifest (metadata.jsonl); nothing to verify")
    report = VerifyReport()
    listed: set[str] = set()
    bookkeeping: set[str] = set()
    sampled: list[dict] = []
    for layout, job in found:
        ledger = Ledger(out, layout, job, read_only=True)
        bookkeeping.update(layout.files())
        run = ledger.read_run()
        _check_run(out, layout, run, report)
        state = _state_records(ledger)
        units = {entry.name: entry for unit in ledger.units() for entry in unit.files if not unit.per_file}
        listed.update(units)
        members: dict[str, dict[str, str] | str] = {}
        for name, entry in sorted(units.items()):
            if out.stat(name) is None:
                report.problems.append(f"{printable(name)}: {_MISSING_SHARD}")
                members[name] = _REPORTED
            elif file_digest(out, name) != entry.sha256:
                report.problems.append(f"{printable(name)}: its bytes differ from those the run wrote")
        seen: set[str] = set()
        splits: set[str] = set()
        labels: set = set()
        for number, line in enumerate(_raw_lines(out, layout.manifest), 1):
            report.records += 1
            where = f"{layout.manifest} line {number}"
            record = _parsed(line)
            if record is None:
                report.problems.append(f"{where}: not a valid record (a torn or edited line)")
                continue
            name, shard = record["file_name"], record.get("shard")
            location = f"{shard}/{name}" if shard else name
            if _is_bookkeeping(shard or name):
                report.problems.append(f"{where}: names {printable(shard or name)}, one of ipmix's own files")
                continue
            if location in seen:
                report.problems.append(f"{where}: {printable(location)} is listed twice")
                continue
            seen.add(location)
            listed.add(shard or name)
            recorded = state.get(location)
            if recorded is None:
                report.problems.append(f"{where}: {printable(location)} is not an output the run recorded")
            elif dumps(recorded) != dumps(record):
                report.problems.append(f"{where}: {printable(location)} differs from what the run recorded (edited)")
            if record.get("split"):
                splits.add(record["split"])
            label = record.get("label")
            if is_label(label):
                labels.add(label)
            problem = _check_output(out, record, members)
            if problem:
                report.problems.append(problem)
            sampled.append(record)
        missing = sorted(set(state) - seen)
        for location in missing[:20]:
            report.problems.append(f"{printable(location)}: recorded by the run but missing from {layout.manifest}")
        if len(missing) > 20:
            report.problems.append(f"… and {len(missing) - 20} more recorded outputs missing from {layout.manifest}")
        if run is not None:
            _check_classes(layout, run, ledger, labels, report)
        if run is not None and run.split_manifests is not None:  # the split manifests the run wrote
            bookkeeping.update(run.split_manifests)
        else:  # a run of ipmix 0.3.0, which did not record them
            bookkeeping.update(split_manifest(split) for split in splits)
    _check_folder(out, listed, bookkeeping, report)
    if replay and replayer is not None:
        replayer(out.path, sampled, replay, seed, report)
    return report


def _check_run(out: SafeFolder, layout: Layout, run: RunRecord | None, report: VerifyReport) -> None:
    if run is None:
        report.problems.append(f"{layout.run_record}: missing or not a run record ipmix writes")
        return
    if run.status in ("running", "interrupted", "stopped"):
        report.problems.append(
            f"{layout.run_record}: the run did not finish (status {run.status}); re-run the command to complete it"
        )
        return
    if run.status not in ("complete", "complete_with_failures"):
        report.problems.append(f"{layout.run_record}: its status {run.status!r} is not one ipmix writes")
    digest = file_digest(out, layout.manifest)
    if run.manifest_sha256 is not None and digest != run.manifest_sha256:
        report.problems.append(
            f"{layout.manifest}: not the manifest the run wrote (its SHA-256 differs from the run record's); "
            "re-run the command to write it again"
        )
    parquet = run.parquet_manifest_sha256
    if parquet is not None and file_digest(out, layout.parquet_manifest) != parquet:
        report.problems.append(
            f"{layout.parquet_manifest}: not the manifest the run wrote (missing, or its SHA-256 differs from the run "
            "record's); re-run the command to write it again"
        )
    for name, sha256 in sorted((run.split_manifests or {}).items()):
        found = file_digest(out, name)
        if found != sha256:
            how = "missing" if found is None else "not the split's manifest the run wrote (its SHA-256 differs)"
            report.problems.append(f"{name}: {how}; re-run the command to write it again")


def _check_classes(layout: Layout, run: RunRecord, ledger: Ledger, labels: set, report: VerifyReport) -> None:
    """The run record's ``classes`` is the list ipmix wrote: readers number labels by it (the README's recipes,
    ``ClassLabel(names=...)``), so a list reordered or edited gives every sample the wrong class while no output
    byte changes. Shard formats: each shard recorded the digest of the list it was numbered with. Files format:
    the list names every label of the manifest, once, in the order ipmix sorts it."""
    where = f"{layout.run_record}: its class list"
    fix = "re-run the command to write it again"
    if "classes" not in run.extra:
        if run.job in ("augment", "corrupt"):  # (a mixing set has none)
            report.problems.append(f"{where} is missing; {fix}")
        return
    classes = run.extra["classes"]
    numbered = {unit.classes for unit in ledger.units() if unit.classes is not None}
    valid = classes is None or (
        isinstance(classes, list)
        and all(is_label(name) for name in classes)
        and (numbered or len(set(classes)) == len(classes))  # (a shard's numbers may index a declared list as is)
    )
    if not valid:
        report.problems.append(f"{where} is not one ipmix writes (a list of distinct class names); {fix}")
        return
    if numbered:  # shard formats
        if numbered != {classes_digest(None if classes is None else tuple(classes))}:
            report.problems.append(
                f"{where} is not the one the shards were numbered with (reordered or edited: labels would be read "
                f"as the wrong classes); {fix}"
            )
        return
    classes = classes or []
    if classes != sorted(classes, key=lambda label: (isinstance(label, str), label)):
        report.problems.append(
            f"{where} is not in the order ipmix writes (sorted: labels would be numbered as the wrong classes); {fix}"
        )
    missing = sorted(labels - set(classes), key=lambda label: (isinstance(label, str), label))
    if missing:
        shown = ", ".join(printable(str(label)) for label in missing[:5])
        report.problems.append(f"{where} does not name labels the manifest holds ({shown}); {fix}")


def _state_records(ledger: Ledger) -> dict[str, dict]:
    """Every output record of the ledger's state, by location (the run's own account of what it wrote)."""
    records: dict[str, dict] = {}
    for unit in ledger.units():
        for record in unit.records:
            shard = record.get("shard")
            records[f"{shard}/{record['file_name']}" if shard else record["file_name"]] = record
    return records


def _raw_lines(out: SafeFolder, name: str):
    """The manifest's lines as bytes, a torn last line (no newline) included, so it is reported."""
    try:
        with out.open_read(name) as stream:
            while True:
                line = stream.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                yield line
    except (OSError, UnsafePath):
        return


def _parsed(line: bytes) -> dict | None:
    if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    name, digest = record.get("file_name"), record.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        return None
    try:
        clean_relative(name)
        if record.get("shard") is not None:
            clean_relative(record["shard"])
    except UnsafePath:
        return None
    return record


def _is_bookkeeping(name: str) -> bool:
    """Whether ``name`` is where ipmix keeps its own files: ``.ipmix*`` at the top, a manifest or run record at
    the top, or a split's manifest (an output may be called ``cats/ipmix_run.png``)."""
    parts = name.split("/")
    if parts[0].startswith(".ipmix"):
        return True
    if len(parts) == 1:
        return is_public_name(name)
    return len(parts) == 2 and parts[1] in METADATA_NAMES


def _check_output(out: SafeFolder, record: dict, members: dict) -> str | None:
    name = record["file_name"]
    shard = record.get("shard")
    if shard is None:
        if out.stat(name) is None:
            return f"{printable(name)}: missing"
        if file_digest(out, name) != record["sha256"]:
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


def _check_folder(out: SafeFolder, listed: set[str], bookkeeping: set[str], report: VerifyReport) -> None:
    """Files no manifest lists, leftover temporaries, and empty folders."""
    folders_with_files: set[str] = set()
    for name, entry in out.walk():
        base = name.rpartition("/")[2]
        parent = name.rpartition("/")[0]
        while parent:
            folders_with_files.add(parent)
            parent = parent.rpartition("/")[0]
        if base.startswith(".ipmix-tmp-"):
            report.temporaries += 1
        elif name in bookkeeping or ("/" not in name and _PRIVATE.match(name)):
            continue
        elif name not in listed:
            report.unlisted.append(name)
    for folder in _folders(out):
        if folder not in folders_with_files and not folder.startswith(".ipmix"):
            report.problems.append(
                f"{printable(folder)}/: an empty folder (ImageFolder would take it for a class without images); "
                "remove it"
            )


#: ipmix's private files at OUT's top: locks, ledger states, journals and plans (of a run or of its shards).
_PRIVATE = re.compile(
    r"^\.ipmix(\.lock|-setup\.lock|-shard-\d+-of-\d+\.lock|-(state|plan)(\.shard-\d+-of-\d+)?\.jsonl"
    r"|-journal(\.shard-\d+-of-\d+)?\.w-[^/]*\.jsonl)$"
)


def _folders(out: SafeFolder):
    """Every folder below OUT (links not followed), relative names (decoded as UTF-8 whatever the locale)."""
    stack = [b""]
    base = os.fsencode(out.path)
    while stack:
        prefix = stack.pop()
        try:
            with os.scandir(os.path.join(base, prefix) if prefix else base) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        name = prefix + entry.name
                        yield name_text(name)
                        stack.append(name + b"/")
        except OSError:
            continue


__all__ = ["VerifyError", "VerifyReport", "verify"]
