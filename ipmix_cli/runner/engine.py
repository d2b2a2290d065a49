"""The engine: runs any job (``runner.job``) into OUT, resumably and deterministically (SPEC §4, §6).

1. The job's reader finds the inputs (in the driver, compactly: ``inputs.Inputs``).
2. OUT is made and locked (one run at a time; job shards share it, ``disk.lock``), and what it holds is
   settled: a run continues OUT's earlier runs only when their identity is equal (``settle``); anything else
   is refused, with the old and new values, unless ``--overwrite`` (which deletes only what they wrote).
3. The plan (``plan``) joins the inputs with the ledger's units: only missing, damaged or changed outputs are
   made again.
4. Workers (``tasks``) make the outputs on the backend (``backends``, ``schedule``), journalling each unit as
   its files exist; the driver prints, counts and shows progress.
5. Whatever stopped the run, the ledger folds the journals and writes the manifest of exactly the outputs
   present (``ledger.finalize``), then the run record.

The run stops early only for faults of the run (``errors.RunFault``): a failing input is recorded and the run
goes on; a worker that dies has its task retried until the input that kills workers is found and recorded.
Ctrl-C, SIGTERM and a closed ``--print`` pipe stop the run cleanly; re-running the same command resumes.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import os
import stat
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ..allocator import tune_allocator
from ..disk.folder import FolderError, SafeFolder, describe_os_error, make_folder
from ..disk.lock import LockHeld, hold_folder, setup_section, shard_is_running
from ..errors import RunFault, UsageError
from ..formats.records import RunRecord
from ..items import Failure, name_bytes, path_text, printable
from ..seeding import path_digest
from ..writers import finish, is_sharded
from .backends import BackendSpec, open_pool
from .job import Job, Task, TaskResult, Work
from .layout import Layout, layouts_in
from .ledger import Ledger, file_digest, write_lines
from .overlap import Overlaps
from .plan import Plan, assign_units, plan_per_file, plan_units, selected_numbers
from .progress import Progress
from .schedule import WORKER_DIED, Interrupted, schedule
from .signals import DeferredSignals, signals_stop_the_run
from .tasks import run_task


class RunStopped(RunFault):
    """A fault of the run stopped it part-way (exit 1); finished work is recorded; the message says why."""


@dataclass
class Request:
    """How to run a job: where, on what backend, and what the user allowed."""

    out: Path
    backend: BackendSpec = field(default_factory=BackendSpec)
    overwrite: bool = False
    prune: bool = False
    shard: tuple[int, int] | None = None
    show_progress: bool = True
    on_record: Callable[[dict], None] | None = None
    command: list[str] = field(default_factory=list)
    inputs_folder: Path | None = None  # IN, which OUT may not contain or lie in (None: the job reads no IN)
    wait_for_lock: bool = False  # wait for another run holding OUT instead of refusing (built-in set repairs)


@dataclass
class Summary:
    inputs: int
    already_done: int
    succeeded: int
    failures: list[dict]
    files_written: int
    manifest_records: int
    seconds: float
    record: dict
    job: Job
    changed: int = 0
    vanished: int = 0
    pruned: int = 0
    redone: int = 0  # inputs whose recorded outputs were missing or damaged, made again


def check_folders(root: Path, out: Path) -> None:
    """OUT equal to IN, OUT inside IN, or IN inside OUT are refused (inputs must never be touched)."""
    real_in, real_out = Path(os.path.realpath(root)), Path(os.path.realpath(out))
    if real_in == real_out:
        raise UsageError("OUT is the same folder as IN; choose a separate output folder")
    if real_in in real_out.parents:
        raise UsageError(f"OUT ({out}) is inside IN ({root}); choose an output folder outside the inputs")
    if real_out in real_in.parents:
        raise UsageError(f"IN ({root}) is inside OUT ({out}); choose an output folder that does not contain the inputs")


def _ledger(out: SafeFolder, layout: Layout, job) -> Ledger:
    """The ledger of ``job``'s run in ``layout``: the job says which output records a unit may hold."""
    return Ledger(
        out, layout, job.name, job.record_order, claims=job.claims, per_file=not is_sharded(job.output_format)
    )


def shard_of(key: str, count: int) -> int:
    """The job shard an input belongs to: its key digest (the one its seeds use) modulo the shard count."""
    return path_digest(key) % count


def run(job: Job, request: Request) -> Summary:
    """Run ``job`` into OUT (or one job shard of it); see the module docstring."""
    started = time.time()
    tune_allocator()
    if request.inputs_folder is not None:
        check_folders(request.inputs_folder, request.out)
    found = job.plan()
    job = job.prepared(found)
    if not len(found.inputs) and not found.failures:
        raise UsageError(job.nothing_found())
    layout = Layout(hidden=is_sharded(job.output_format), shard=request.shard, record_base=job.record_base)
    pool = open_pool(request.backend, work=None)  # a backend that cannot start is refused before OUT is touched
    try:
        try:
            out = SafeFolder(make_folder(request.out))
        except FolderError as error:
            raise UsageError(f"cannot use OUT: {error.strerror or error}") from None
        try:
            lock = hold_folder(out, request.shard, wait=request.wait_for_lock)
            lock.__enter__()
        except FolderError as error:
            raise UsageError(str(error.strerror or error)) from None
        try:
            return _Run(job, request, out, layout, found, started, pool).go()
        finally:
            lock.__exit__(None, None, None)
    except LockHeld:
        raise
    finally:
        pool.close(abort=True)


class _Run:
    """One run, once OUT is held (see the module docstring); ``go`` is its life."""

    def __init__(self, job: Job, request: Request, out: SafeFolder, layout: Layout, found, started: float, pool):
        self.job, self.request, self.out, self.layout = job, request, out, layout
        self.inputs, self.started, self.pool = found.inputs, started, pool
        shard = request.shard
        self.failures = [f for f in found.failures if shard is None or shard_of(f.key, shard[1]) == shard[0]]
        self.ledger = _ledger(out, layout, job)
        self._inputs_digest: str | None = None

    def go(self) -> Summary:
        self.trim = False
        with setup_section(self.out) if self.request.shard else _nothing():
            self.job, self.trim = settle(self.out, self.layout, self.job, self.request.overwrite)
            self.ledger = _ledger(self.out, self.layout, self.job)
            self.previous = self.ledger.read_run()
            self.base = RunRecord(
                job=self.job.name,
                identity=self.job.identity(),
                command=[path_text(argument) for argument in self.request.command],
                seed=self.job.seed,
                shard=self.request.shard,
                extra={**self.job.run_fields("running"), **self._shard_fields(), "out": path_text(self.request.out)},
            )
            if self.request.shard:
                self._record_running()
        self.out.sweep_temporaries()
        try:
            self.ledger.fold()  # what earlier (killed) runs journalled: their records, older than this run's
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(self.out.path / self.layout.state))) from None
        plan, works, unit_tasks = self._plan()
        work_count = len(plan.todo) + len(plan.units)
        if not self.request.shard and (work_count or self.trim or plan.vanished or self.ledger.has_journals()):
            self._record_running()  # a run with nothing to change leaves the record of the one before until its end
        if self.request.shard:
            try:
                write_lines(self.out, self.layout.plan, self._planned_keys(plan))
            except OSError as error:
                raise RunStopped(describe_os_error(error, str(self.out.path / self.layout.plan))) from None
        self.pool = self.pool.limited(work_count, self.request.backend.explicit)
        collector = _Collector(self.out, self.request.on_record, self._progress(plan), self.job)
        collector.failures.extend(self.failures)
        stop: BaseException | None = None
        if work_count:
            self.pool.warm(self.job.warm)
        try:
            with signals_stop_the_run():
                schedule(
                    lambda task: self.pool.submit(run_task, self.job, self.out, self.layout.journal_prefix, task),
                    self.pool,
                    works,
                    len(plan.todo),
                    unit_tasks,
                    self.request.backend.distributed,
                    collector,
                )
        except KeyboardInterrupt:
            stop = Interrupted("interrupted", 130)
        except Interrupted as interruption:
            stop = interruption
        except RunFault as fault:
            stop = fault if isinstance(fault, RunStopped) else RunStopped(str(fault))
        finally:
            collector.progress.close()
        # no task remains: the workers go now, so their memory and the folding of the ledger never add up
        self.pool.close(abort=True)
        return self._finish(plan, collector, stop)

    def _record_running(self) -> None:
        try:
            self.ledger.write_run(dataclasses.replace(self.base, timings={"started": _iso(self.started)}))
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(self.out.path / self.layout.run_record))) from None

    # --- planning ------------------------------------------------------------------------------------------

    def _plan(self) -> tuple[Plan, Iterator[Work], Iterator[Task]]:
        job, inputs = self.job, self.inputs
        try:
            if is_sharded(job.output_format):
                units = assign_units(len(inputs), job.inputs_per_unit(), job.unit_name)
                if self.request.shard:
                    index, count = self.request.shard
                    units = [unit for number, unit in enumerate(units) if number % count == index]
                classes = job.classes_digest()
                plan = plan_units(job, self.ledger, inputs, units, job.reader.digest, classes)
                self.ledger.remove_files(name for name in plan.stale_units if job.owns(name))
                tasks = (  # made as they are handed out: no item of every input at once
                    Task(tuple(Work(inputs[n]) for n in range(first, end)), name) for name, first, end in plan.units
                )
                return plan, iter(()), tasks
            selected = selected_numbers(inputs, self.request.shard, shard_of)
            overlaps = Overlaps(job, inputs, selected)

            def unmatched(unit) -> None:  # a recorded input this run does not make, still in IN
                if unit.per_file and unit.files and not job.reader.vanished(unit.unit):
                    overlaps.check(unit)

            journal = self.ledger.journal()
            try:
                plan = plan_per_file(
                    job,
                    self.ledger,
                    inputs,
                    iter(selected),
                    self._is_ours,
                    job.reader.digest,
                    self.request.prune,
                    refresh=journal.record,  # a touched input's new identity: not hashed again next time
                    unmatched=unmatched,
                )
            finally:
                journal.close()
            if overlaps.found:  # those still to make fail alone: their outputs would overwrite another input's
                todo = set(plan.todo)
                overlaps.found = {number: key for number, key in overlaps.found.items() if number in todo}
                plan.todo = array("q", (number for number in plan.todo if number not in overlaps.found))
                for number in overlaps.found:
                    plan.partial.pop(number, None)
                plan.planned -= len(overlaps.found)
                self.failures.extend(overlaps.failures())
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(self.out.path))) from None

        def works() -> Iterator[Work]:
            for number in plan.todo:
                yield Work(inputs[number], plan.partial.get(number))

        return plan, works(), []

    def _is_ours(self, key: str) -> bool:
        """Whether a recorded input no longer in the plan is this run's and gone from IN (vanished)."""
        shard = self.request.shard
        if shard is not None and shard_of(key, shard[1]) != shard[0]:
            return False
        return self.job.reader.vanished(key)

    def _planned_keys(self, plan: Plan) -> Iterator[str]:
        if is_sharded(self.job.output_format):
            return (self.inputs.key(n) for _, first, end in plan.units for n in range(first, end))
        shard = self.request.shard
        return (
            self.inputs.key(n)
            for n in range(len(self.inputs))
            if shard is None or shard_of(self.inputs.key(n), shard[1]) == shard[0]
        )

    def _progress(self, plan: Plan) -> Progress:
        return Progress(
            total=plan.planned + len(self.failures),
            what=self.job.verb,
            unit=self.job.what,
            enabled=self.request.show_progress,
            done=plan.already_done + len(self.failures),
            failed=len(self.failures),
            log=self.job.log_progress,
        )

    # --- the end ---------------------------------------------------------------------------------------

    def _finish(self, plan: Plan, collector: _Collector, stop: BaseException | None) -> Summary:
        with DeferredSignals() as deferred:
            status = "complete"
            if stop is not None:
                status = "interrupted" if isinstance(stop, Interrupted) else "stopped"
            pruned = 0
            manifest_records, digest, split_manifests, labels, parquet_digest = 0, None, None, set(), None
            try:
                vanished = set(plan.vanished)
                if vanished or self.trim:
                    pruned = self._prune(vanished)
                keep = self._keeper(vanished) if vanished or self.trim else None
                unchanged = self._unchanged(plan, collector, stop)
                if unchanged is not None:  # every file was just checked by the plan: the manifests stand
                    manifest_records, digest = unchanged
                    split_manifests = self.previous.split_manifests
                    labels = self.ledger.manifest_labels()
                else:
                    split_of = self.job.split_of if self.job.has_splits() else None
                    done = self.ledger.finalize(split_of, keep, self._present)
                    manifest_records, digest, split_manifests = done.records, done.sha256, done.split_manifests
                    labels = done.labels
                    self.ledger.remove_split_manifests(self.previous, keep=done.split_manifests)
                finish(
                    self.job.output_format,
                    self.out,
                    self.layout.manifest,
                    self.layout.parquet_manifest,
                    self.job.writer_settings(),
                )
                parquet_digest = file_digest(self.out, self.layout.parquet_manifest)
            except OSError as error:
                where = error.filename if isinstance(error.filename, str) else str(self.out.path)
                if stop is None or isinstance(stop, Interrupted):
                    stop = RunStopped(
                        f"the manifest could not be written ({describe_os_error(error, where)}); what finished is "
                        "kept in OUT's journal"
                    )
                status = "stopped"
            self.out.sweep_temporaries()
            finished = time.time()
            failed = sorted(collector.failures, key=lambda f: f.key)
            if status == "complete" and failed:
                status = "complete_with_failures"
            counts = {
                "inputs": plan.planned + len(self.failures),
                "succeeded": collector.succeeded + plan.already_done,
                "failed": len(failed),
                "already_done": plan.already_done,
                "changed": plan.changed,
                "vanished": plan.vanished_inputs,
                "pruned": pruned,
                "redone": plan.redone,
                "files_written": collector.written,
                "manifest_records": manifest_records,
            }
            record = dataclasses.replace(
                self.base,
                extra={
                    **self.job.run_fields(status),
                    **self.job.summary_fields(counts),
                    **self.job.manifest_fields(labels),
                    **self._shard_fields(),
                    "out": path_text(self.request.out),
                },
                status=status,
                counts=counts,
                failures=[{"source": printable(f.key), "error": f.error} for f in failed],
                timings={
                    "started": _iso(self.started),
                    "finished": _iso(finished),
                    "seconds": round(finished - self.started, 3),
                    "backend": self.request.backend.name,
                    "jobs": self.request.backend.jobs,
                },
                stopped_because=str(stop) if stop is not None else None,
                manifest_sha256=digest,
                split_manifests=split_manifests or None,
                parquet_manifest_sha256=parquet_digest,
            )
            try:
                self.ledger.write_run(record)
            except OSError as error:
                if stop is None:
                    stop = RunStopped(
                        f"the run record could not be written ({describe_os_error(error, str(self.out.path))})"
                    )
            stop = stop or deferred.stop
            if stop is not None:
                raise stop
            return Summary(
                inputs=counts["inputs"],
                already_done=plan.already_done,
                succeeded=counts["succeeded"],
                failures=record.failures,
                files_written=collector.written,
                manifest_records=manifest_records,
                seconds=finished - self.started,
                record=record.to_json(),
                job=self.job,
                changed=plan.changed,
                vanished=plan.vanished_inputs,
                pruned=pruned,
                redone=plan.redone,
            )

    def _unchanged(self, plan: Plan, collector, stop) -> tuple[int, str] | None:
        """(records, digest) of the manifest when this run changed nothing in OUT, every output the manifest
        lists was just found intact by the plan (this run's and every other recorded unit's), and the manifests
        are the ones the last run wrote (a re-run with nothing to do is then one pass over the inputs); else
        None."""
        previous = getattr(self, "previous", None)
        if (
            previous is None
            or previous.manifest_sha256 is None
            or collector.written
            or stop is not None
            or plan.refreshed
            or plan.vanished
            or plan.damaged
            or plan.stale_units
            or self.trim
            or plan.todo
            or plan.units
            or self.ledger.has_journals()
            or previous.status not in ("complete", "complete_with_failures")
            or self.job.has_splits()
            and previous.split_manifests is None  # a record from before they were
        ):
            return None
        if self.ledger.manifest_sha256() != previous.manifest_sha256:
            return None
        for name, sha256 in (previous.split_manifests or {}).items():
            if file_digest(self.out, name) != sha256:
                return None
        records = previous.counts.get("manifest_records")
        return (records, previous.manifest_sha256) if isinstance(records, int) else None

    def _prune(self, vanished: set[str]) -> int:
        """Remove the files of vanished inputs (``--prune``) and of outputs the settings no longer name (a
        smaller ``--k`` or ``--count`` with ``--overwrite``)."""
        names: set[str] = set()
        others = self._other_shards()
        for unit in self.ledger.units():
            if unit.unit in vanished:
                names.update(entry.name for entry in unit.files)
                if others is not None:  # a name an input of another job shard has now stays (that shard lists it)
                    names.difference_update(others.names_for(unit.unit))
            elif self.trim and unit.per_file:
                names.update(e.name for e, record in zip(unit.files, unit.records) if not self.job.keeps(record))
        if names:  # a name an input still here now has (a.png gone, a.jpg new, both making a_ipmix0.png) stays
            for unit in self.ledger.units():
                if unit.unit not in vanished:
                    names.difference_update(
                        e.name for e, record in zip(unit.files, unit.records) if not self.trim or self.job.keeps(record)
                    )
        return self.ledger.remove_files(sorted(name for name in names if self.job.owns(name)))

    def _other_shards(self) -> Overlaps | None:
        """The inputs of the other job shards (None for a whole run), for :meth:`_prune`: another shard's input
        may have the name a gone input of this one had (``a.png`` gone, ``a.jpg`` new, both writing
        ``a_ipmix0.png``): the file stays, out of this shard's ledger, and that shard's run writes and lists it
        (before or after this one). Should that input fail, the file stays unlisted and ``verify`` names it
        (ipmix deletes no file its ledger does not name). Indexed only when asked, i.e. when an input is gone."""
        shard = self.request.shard
        if shard is None:
            return None
        inputs = self.inputs
        numbers = (n for n in range(len(inputs)) if shard_of(inputs.key(n), shard[1]) != shard[0])
        return Overlaps(self.job, inputs, numbers)

    def _shard_fields(self) -> dict:
        """A job shard of a shard format records the digest of the inputs it found: output shards are numbered
        over all of them, so shards that found different inputs (IN changed between their runs) cannot be merged."""
        if self.request.shard and is_sharded(self.job.output_format):
            if self._inputs_digest is None:
                digest = hashlib.sha256()
                for number in range(len(self.inputs)):
                    digest.update(name_bytes(self.inputs.key(number)) + b"\0")
                self._inputs_digest = digest.hexdigest()
            return {"inputs_digest": self._inputs_digest}
        return {}

    def _present(self, key: str) -> bool:
        """Whether an input called ``key`` is in IN now: found by this run (its inputs are sorted by key), or
        left out of a ``--files-from`` list and still there."""
        inputs = self.inputs
        at = bisect.bisect_left(range(len(inputs)), key, key=inputs.key)
        return (at < len(inputs) and inputs.key(at) == key) or not self.job.reader.vanished(key)

    def _keeper(self, vanished: set[str]):
        """The units (trimmed) that stay in the ledger after :meth:`_prune`."""
        job, trim = self.job, self.trim

        def keep(unit):
            if unit.unit in vanished:
                return None
            if trim and unit.per_file:
                pairs = [(e, r) for e, r in zip(unit.files, unit.records) if job.keeps(r)]
                if not pairs:
                    return None
                return dataclasses.replace(unit, files=tuple(p[0] for p in pairs), records=tuple(p[1] for p in pairs))
            return unit

        return keep


@contextmanager
def _nothing():
    yield


class _Collector:
    """What the driver does with each finished task: print, progress, failures."""

    def __init__(self, out: SafeFolder, on_record, progress: Progress, job: Job):
        self.out, self.on_record, self.progress, self.job = out, on_record, progress, job
        self.failures: list[Failure] = []
        self.succeeded = 0
        self.written = 0

    def poisoned(self, work: Work) -> None:
        """``work``'s input killed its worker even alone: record it as failed and remove the outputs it may
        have written before dying (they are not recorded, and OUT holds exactly what its manifest lists)."""
        for output in self.job.outputs(work.item):
            if work.orders is None or output.order in work.orders:
                try:
                    self.out.remove(output.name)
                except OSError:
                    pass
        self.collect(TaskResult(failed=[Failure(work.item.key, WORKER_DIED)]))

    def collect(self, result: TaskResult) -> None:
        records = [record for _, batch in result.done for record in batch]
        self.failures.extend(result.failed)
        self.succeeded += len(result.done)
        self.written += len(records)
        self.progress.update(len(result.done) + len(result.failed), failed=len(result.failed))
        if self.on_record is not None:
            for record in records:
                try:
                    self.on_record(record)
                except BrokenPipeError:
                    raise Interrupted("the output pipe was closed", 141) from None
                except OSError as error:  # a full device (/dev/full), a closed descriptor…
                    raise RunStopped(
                        f"standard output cannot be written ({error.strerror or error}); --print needs a writable "
                        "standard output"
                    ) from None
        if result.fault:
            raise RunStopped(result.fault)


# --- settling what OUT holds -----------------------------------------------------------------------------


def settle(out: SafeFolder, layout: Layout, job: Job, overwrite: bool) -> tuple[Job, bool]:
    """The job as it runs in OUT (the seed an earlier run recorded, …), after checking it against what OUT
    holds; earlier runs' files are removed first when ``overwrite`` and they differ. The flag says whether
    outputs the settings no longer name (a smaller ``--k``) are to be removed (allowed by ``overwrite``)."""
    layouts = layouts_in(out, job.record_base)
    _refuse_in_the_way(out, {layout, *layouts})
    records = {each: Ledger(out, each, job.name).read_run() for each in layouts}
    own = records.get(layout)
    siblings = [
        each for each in layouts if each == layout or (layout.shard and each.shard and each.shard[1] == layout.shard[1])
    ]
    previous = own or next((records[each] for each in siblings if records.get(each)), None)
    job = job.settle(previous)
    strangers = []
    for each in layouts:
        record = records.get(each)
        same_split = layout.shard is not None and each.shard is not None and each.shard[1] == layout.shard[1]
        if each.shard != layout.shard and not same_split:
            why = "shards of a run (merge them with `ipmix merge OUT`)" if each.shard else "a whole run"
            strangers.append((each, why, {}, {}))
            continue
        if record is None:
            strangers.append((each, "the remains of a run whose record is missing or damaged", {}, {}))
            continue
        old, new = job.comparable(record, sibling=each != layout)
        if old != new:
            strangers.append((each, None, old, new))
    running = sorted(
        {each.shard for each, *_ in strangers if each.shard and each != layout and shard_is_running(out, each.shard)}
    )
    if running:
        index, count = running[0]
        raise UsageError(
            f"shard {index}/{count} of another run is being written into {out.path}; wait for it to finish (or "
            "stop it) before replacing it"
        )
    if strangers and not overwrite:
        raise UsageError(_refusal(out, job, strangers))
    for each, *_ in strangers:
        Ledger(out, each, job.name).remove_everything(job.owns)
    if not strangers and own is None and not layouts and _foreign_files(out) and not overwrite:
        raise UsageError(
            f"{out.path} is not empty and holds no ipmix run; choose an empty folder, or pass --overwrite "
            "to write into it anyway (files ipmix did not write are never deleted)"
        )
    if own is not None and not strangers:
        shrinking = job.shrinking(own)
        if shrinking and not overwrite:
            raise UsageError(f"{out.path} {shrinking}")
        return job, bool(shrinking)
    return job, False


def _refuse_in_the_way(out: SafeFolder, layouts) -> None:
    """A folder where a layout keeps a file of its own is refused before anything is done (a run would remove
    the outputs it replaces, then stop at writing its record): what is in it is not ipmix's to remove. (A link
    or a FIFO there is replaced, never followed, by the atomic write of the file.)"""
    for layout in sorted(layouts, key=lambda each: (each.shard or (-1, -1), each.hidden)):
        for name in layout.files():
            try:
                info = out.stat(name)
            except OSError:
                continue
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise UsageError(
                    f"{out.path / name} is a folder, where ipmix keeps a file of its own; move it away (ipmix never "
                    "deletes what it did not write)"
                )


def _foreign_files(out: SafeFolder) -> bool:
    """Whether OUT holds anything besides ipmix's lock files (i.e. is not empty for a first run)."""
    return any(not name.startswith((".ipmix.lock", ".ipmix-setup.lock", ".ipmix-shard-")) for name, _ in out.walk())


def _refusal(out: SafeFolder, job: Job, strangers) -> str:
    layout, why, old, new = strangers[0]
    if why:
        return (
            f"{out.path} holds {why}; choose another folder, or pass --overwrite to replace it "
            "(only the files ipmix wrote are deleted)"
        )
    lines = job.differences(old, new)
    made = f"shard {layout.shard[0]}/{layout.shard[1]} of a run" if layout.shard else "a run"
    return (
        f"{out.path} holds {made} with other settings:\n  "
        + "\n  ".join(lines)
        + "\nre-run with the earlier settings to resume, choose another folder, or pass --overwrite to replace it"
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
