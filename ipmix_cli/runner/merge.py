"""``ipmix merge OUT``: check the job shards of a run and combine them into the files of a single run.

Each shard ``I/N`` left its run record, its ledger state and its list of planned inputs in OUT. The merge
checks that every shard is present and finished with the same settings and the same ipmix version (a record
edited to claim another version is refused), that every planned input's outputs are present with their
recorded bytes, and only then writes the state of a single run (a heap merge of the sorted shard states: the
bytes a single run writes), its manifest and run record, and removes the shard files. Every problem it
reports names its remedy.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..disk.folder import FolderError, SafeFolder, describe_os_error
from ..disk.lock import LockHeld, hold_folder
from ..errors import RunFault
from ..formats.records import RunRecord
from ..items import printable
from ..labels import is_label
from ..writers import finish, is_sharded
from .layout import Layout, layouts_in
from .ledger import Ledger, file_digest, read_json_lines, write_lines


class MergeError(RunFault):
    """The shards cannot be merged (yet); ``problems`` lists what is missing or wrong, each with its remedy."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class MergeSummary:
    shards: int
    records: int
    failures: int
    already: bool = False  # OUT held a single run already (merged before): nothing was done
    manifest: str = "metadata.jsonl"  # the merged manifest, relative to OUT (shard outputs: in .ipmix/)


def _rerun(shard: tuple[int, int], what: str) -> str:
    return f"re-run shard {shard[0]}/{shard[1]} (the same command with --shard {shard[0]}/{shard[1]}); {what}"


def merge_shards(
    out_path: Path, job_for, command: list[str] | None = None, record_base: str = "ipmix_run"
) -> MergeSummary:
    """Merge the shards in OUT; ``job_for(run_record)`` is the job that wrote them (for its split manifests
    and its format's own manifest)."""
    try:
        out = SafeFolder(out_path)
        with hold_folder(out, None, what="writing"):
            return _merge(out, job_for, command, record_base)
    except LockHeld as error:
        raise MergeError([f"{error} (merge when every shard has finished)"]) from None
    except OSError as error:  # a read-only or full OUT: the shards' files are kept, merging again resumes
        where = error.filename if isinstance(error.filename, str) else str(out_path)
        reason = str(error.strerror) if isinstance(error, FolderError) and error.strerror else None
        raise MergeError(
            [f"{reason or describe_os_error(error, where)}; the shards are kept: merge again once that is fixed"]
        ) from None


def check_shards(out: SafeFolder, record_base: str = "ipmix_run") -> tuple[int, dict, list[Layout]]:
    """The shard count, run records and layouts, or :class:`MergeError` naming every problem and its remedy."""
    layouts = [layout for layout in layouts_in(out, record_base) if layout.shard]
    if not layouts:
        raise MergeError([f"no shards in {out.path} (files such as ipmix_run.shard-0-of-4.json): nothing to merge"])
    counts = {layout.shard[1] for layout in layouts}
    if len(counts) != 1:
        shown = ", ".join(f"N={n}" for n in sorted(counts))
        raise MergeError(
            [
                f"shards of different splits in {out.path} ({shown}): keep one split; re-run the others' inputs "
                "with that split, or start over with --overwrite"
            ]
        )
    count = counts.pop()
    records = {layout.shard: Ledger(out, layout, None).read_run() for layout in layouts}
    problems = []
    for index in sorted(set(range(count)) - {index for index, _ in records}):
        problems.append(
            f"shard {index}/{count} has not been run: run it (the same command with --shard {index}/{count})"
        )
    identities = {repr(((r.identity, r.extra.get("k")) if r else None)) for r in records.values()}
    if len(identities) > 1:
        problems.append(
            "the shards were run with different settings: re-run the odd ones with the settings of the others "
            "(compare 'identity' in their ipmix_run.shard-*.json)"
        )
    for layout in sorted(layouts, key=lambda each: each.shard):
        problems.extend(_check_shard(out, layout, records.get(layout.shard)))
    if problems:
        raise MergeError(problems)
    return count, records, sorted(layouts, key=lambda each: each.shard)


def _check_shard(out: SafeFolder, layout: Layout, record: RunRecord | None) -> list[str]:
    shard = layout.shard
    name = f"shard {shard[0]}/{shard[1]}"
    if record is None:
        return [f"{name}: its run record is missing or unreadable: " + _rerun(shard, "it will resume")]
    if not record.status.startswith("complete"):
        return [f"{name} has not finished (status {record.status or 'unknown'}): " + _rerun(shard, "it will resume")]
    if record.ipmix_version != __version__ or record.identity.get("ipmix_version") != __version__:
        return [
            f"{name} was made by ipmix {record.ipmix_version or 'unknown'}, not {__version__} (or its record was "
            "edited): " + _rerun(shard, "it will be made again by this version (with --overwrite)")
        ]
    planned = [value for value in read_json_lines(out, layout.plan) if isinstance(value, str)]
    if not planned and not out.is_file(layout.plan):
        return [f"{name}: its list of planned inputs ({layout.plan}) is missing: " + _rerun(shard, "it will write it")]
    ledger = Ledger(out, layout, record.job)
    failed = {f.get("source") for f in record.failures}
    problems, broken = [], 0
    made: set[str] = set()
    for unit in ledger.units():
        valid = ledger.validated(unit)
        if valid is None or len(valid.files) != len(unit.files):
            kept = {entry.name for entry in valid.files} if valid is not None else set()
            lost = [entry.name for entry in unit.files if entry.name not in kept]
            for file_name in lost[:20]:
                problems.append(f"{name}: {printable(file_name)} is missing or does not match its recorded sha256")
            broken += len(lost)
            continue
        made.update(entry.key for entry in unit.inputs if entry.key not in {key for key, _ in unit.failed})
    short = [source for source in planned if source not in failed and source not in made]
    for source in short[:20]:
        problems.append(f"{name}: {printable(source)} has not all of its outputs recorded")
    if len(short) > 20:
        problems.append(f"{name}: … and {len(short) - 20} more inputs with outputs missing")
    if problems:
        files = f"the {broken} damaged or missing file{'s' if broken != 1 else ''}" if broken else "what is missing"
        problems.append(f"{name}: " + _rerun(shard, f"it will redo {files}"))
    return problems


def _merge(out: SafeFolder, job_for, command: list[str] | None, record_base: str) -> MergeSummary:
    whole_layouts = [layout for layout in layouts_in(out, record_base) if not layout.shard]
    shard_layouts = [layout for layout in layouts_in(out, record_base) if layout.shard]
    if whole_layouts:
        record = Ledger(out, whole_layouts[0], None).read_run()
        counts = record.counts if record else {}
        summary = MergeSummary(0, int(counts.get("manifest_records") or 0), 0, already=True)  # merged before
        if not shard_layouts:
            return summary
        if record is not None and record.extra.get("merged_from") and record.status.startswith("complete"):
            _remove_shards(out, shard_layouts)  # a merge stopped while it removed the shards' files: finish it
            return summary
    count, records, layouts = check_shards(out, record_base)
    first = records[(0, count)]
    job = job_for(first)
    whole = layouts[0].whole()
    ledgers = [Ledger(out, layout, first.job) for layout in layouts]
    sharded = is_sharded(job.output_format)
    if sharded:
        _check_same_inputs(records, ledgers)

    write_lines(out, whole.state, (unit.to_json() for unit in _merged_units(ledgers)))
    ledger = Ledger(out, whole, first.job, job.record_order, claims=job.claims, per_file=not sharded)
    done = ledger.finalize(job.split_of if job.has_splits() else None, present=_planned_by_a_shard(out, layouts))
    finish(job.output_format, out, whole.manifest, whole.parquet_manifest, job.writer_settings())
    parquet_digest = file_digest(out, whole.parquet_manifest)
    failures = sorted((f for r in records.values() for f in r.failures), key=lambda f: str(f.get("source")))
    totals = {
        key: sum(int(r.counts.get(key) or 0) for r in records.values())
        for key in ("inputs", "succeeded", "failed", "already_done", "changed", "vanished", "files_written")
    }
    totals["manifest_records"] = done.records
    merged = dataclasses.replace(
        first,
        command=command or [],
        shard=None,
        status="complete" if not failures else "complete_with_failures",
        counts=totals,
        failures=failures,
        timings={"shards": [{"shard": f"{i}/{count}", **records[(i, count)].timings} for i in range(count)]},
        extra={**_merged_extra(first, records, job, done.labels), "out": str(out.path), "merged_from": count},
        manifest_sha256=done.sha256,
        split_manifests=done.split_manifests or None,
        parquet_manifest_sha256=parquet_digest,
        stopped_because=None,
    )
    ledger.write_run(merged)
    _remove_shards(out, layouts)
    return MergeSummary(count, done.records, len(failures), manifest=whole.manifest)


def _remove_shards(out: SafeFolder, layouts: list[Layout]) -> None:
    """The shards' own files, once the merged run's are written (a merge stopped here finishes this when run
    again: the merged run record says the merge is done)."""
    for layout in layouts:
        for name in [*layout.files(), *layout.journals(out)]:
            out.remove(name)
    for name, _ in list(out.walk(recursive=False)):
        if name.startswith(".ipmix-shard-") and name.endswith(".lock"):
            out.remove(name)


def _merged_units(ledgers: list[Ledger]):
    """The shards' units, one sorted stream (each shard's state is sorted by unit name)."""
    return heapq.merge(*(ledger.units() for ledger in ledgers), key=lambda unit: unit.unit)


def _planned_by_a_shard(out: SafeFolder, layouts: list[Layout]):
    """Whether an input was planned by one of the shards (it was in IN when that shard ran): decides which of two
    units claiming one output name lists it. Asked only when a name is claimed twice; the lists are read then."""
    planned: set[str] | None = None

    def present(key: str) -> bool:
        nonlocal planned
        if planned is None:
            planned = set()
            for layout in layouts:
                planned.update(value for value in read_json_lines(out, layout.plan) if isinstance(value, str))
        return key in planned

    return present


def _merged_extra(first: RunRecord, records: dict, job, labels: set) -> dict:
    """The merged run record's job fields: the first shard's, with the class list of every shard (files
    format: each shard names the labels of the outputs it kept, an input gone from IN since included)."""
    named = set(labels)
    for (index, count), record in sorted(records.items()):
        classes = record.extra.get("classes")
        if isinstance(classes, list):
            named.update(name for name in classes if is_label(name))
    extra = {key: value for key, value in first.extra.items() if key != "inputs_digest"}
    return {**extra, **job.manifest_fields(named)}


def _check_same_inputs(records: dict, ledgers: list[Ledger]) -> None:
    """Shard formats: output shards are numbered over every input, so the job shards must have found the same
    inputs (the same digest of their keys, the same class list, and output shards that hold each input once, in
    order)."""
    problems = []
    digests = {repr(record.extra.get("inputs_digest")) for record in records.values()}
    classes = {repr(record.extra.get("classes")) for record in records.values()}
    if len(digests) > 1 or len(classes) > 1:
        problems.append("the shards found different inputs or classes in IN (it changed between their runs)")
    else:
        last = None
        for unit in _merged_units(ledgers):
            keys = [entry.key for entry in unit.inputs]
            if (
                any(not isinstance(key, str) for key in keys)
                or keys != sorted(keys)
                or (keys and last is not None and keys[0] <= last)
            ):
                problems.append(
                    f"output shard {printable(unit.unit)} holds inputs another shard holds too, or out of order "
                    "(IN changed between the shards' runs)"
                )
                break
            last = keys[-1] if keys else last
    for (index, count), record in sorted(records.items()):
        classes = record.extra.get("classes")
        if classes is not None and not (isinstance(classes, list) and all(is_label(name) for name in classes)):
            problems.append(f"shard {index}/{count}: its run record's class list is not one ipmix writes")
            break
    if problems:
        problems.append(
            "re-run every shard (the same command with --shard I/N for each I, with IN as it is now: each makes "
            "again what changed), then merge"
        )
        raise MergeError(problems)


__all__ = ["MergeError", "MergeSummary", "check_shards", "merge_shards"]
