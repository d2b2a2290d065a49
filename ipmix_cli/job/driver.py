"""``ipmix augment``: the driver that connects a reader, the workers, a writer and a backend (SPEC §4, §6).

Data flows one way: the driver plans work items (inputs with the outputs they still need), workers read,
augment, encode and store them and return records. Each worker appends every finished input's records to a
journal of its own the moment its files exist (so a hard kill loses only the inputs being made); the driver
alone folds the journals into the state and regenerates the manifest. Every copy's generator comes from
(seed, input key, copy index), so nothing depends on the number of workers, the order of completion or
interruptions.

The driver holds OUT's lock for the whole run. It stops early only for faults of the run (disk full, OUT
read-only): a failing input is recorded and the run goes on; a worker that dies has its task retried in
halves until the input that kills workers is found and recorded as failed. Ctrl-C, SIGTERM and a closed
``--print`` pipe stop the run cleanly: finished work is recorded, the manifest lists it, and re-running the
same command resumes.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .. import __version__
from ..allocator import tune_allocator
from ..disk.folder import FolderError, SafeFolder, describe_os_error, make_folder
from ..disk.lock import LockHeld, hold_folder, setup_section
from ..errors import RunFault, UsageError
from ..items import Failure, Item, printable
from ..labels import LabelError, class_list
from ..progress import Progress
from ..readers import PlanError
from ..seeding import path_digest
from ..writers import finish, is_sharded, writer_class
from .distribute import BackendSpec, WorkerLost, open_pool
from .naming import find_collisions, output_names
from .resume import (
    RefusedOut,
    assign_units,
    plan_files,
    plan_units,
    remove_stale_units,
    settle,
    valid_records,
    valid_units,
)
from .state import Layout, append_lines, public, write_json, write_state_and_manifest
from .worker import Job, Task, TaskResult, Work, run_task, warm


class AugmentError(UsageError):
    """A run that cannot start (a usage problem, exit 2); the message says why and how to fix it."""


class RunStopped(RunFault):
    """A fault of the run stopped it part-way (exit 1); finished work is recorded; the message says why."""


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or a closed output pipe stopped the run; finished work is recorded."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.status = status


@dataclass
class RunSummary:
    inputs: int
    already_done: int
    succeeded: int
    failures: list[dict]
    files_written: int
    manifest_records: int
    seconds: float
    record: dict
    options: object = None


@dataclass
class RunRequest:
    root: Path
    out: Path
    reader: object
    options: object  # AugmentOptions; its seed may be None (settled from OUT or drawn)
    backend: BackendSpec = field(default_factory=BackendSpec)
    overwrite: bool = False
    shard: tuple[int, int] | None = None
    show_progress: bool = True
    on_record: Callable[[dict], None] | None = None
    command: list[str] = field(default_factory=list)


def check_folders(root: Path, out: Path) -> None:
    """OUT equal to IN, OUT inside IN, or IN inside OUT are refused (inputs must never be touched)."""
    real_in, real_out = Path(os.path.realpath(root)), Path(os.path.realpath(out))
    if real_in == real_out:
        raise AugmentError("OUT is the same folder as IN; choose a separate output folder")
    if real_in in real_out.parents:
        raise AugmentError(f"OUT ({out}) is inside IN ({root}); choose an output folder outside the inputs")
    if real_out in real_in.parents:
        raise AugmentError(
            f"IN ({root}) is inside OUT ({out}); choose an output folder that does not contain the inputs"
        )


def shard_of(key: str, count: int) -> int:
    """The job shard an input belongs to: its key digest (the one its seeds use) modulo the shard count."""
    return path_digest(key) % count


def select_shard(items: list[Item], shard: tuple[int, int] | None) -> list[Item]:
    if shard is None:
        return items
    index, count = shard
    return [item for item in items if shard_of(item.key, count) == index]


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise :class:`Interrupted` in the driver, as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number, frame):
        raise Interrupted("terminated" if number == signal.SIGTERM else "hung up", 128 + number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _DeferredSignals:
    """While the bookkeeping of a run's end is written, the first Ctrl-C, SIGTERM or SIGHUP is held until it is
    done (then ``stop`` says which came), so a stop never leaves a half-written Parquet manifest or a run record
    saying "running"; a second one stops at once (the writes are atomic: OUT stays resumable)."""

    def __init__(self):
        self.stop: Interrupted | None = None
        self._previous: dict = {}

    def __enter__(self) -> _DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
            self._previous = {number: signal.signal(number, self._hold) for number in numbers}
        return self

    def _hold(self, number, frame) -> None:
        reason = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(number, "hung up")
        if self.stop is not None:
            raise Interrupted(reason, 128 + number)
        self.stop = Interrupted(reason, 128 + number)

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def run_augment(request: RunRequest) -> RunSummary:
    """Augment the reader's inputs (or one job shard of them) into OUT; resumable and deterministic."""
    started = time.time()
    tune_allocator()
    options = request.options
    check_folders(request.root, request.out)
    try:
        found = request.reader.plan()
    except PlanError as error:
        raise AugmentError(str(error)) from None
    items, failures = found.items, list(found.failures)
    sharded = is_sharded(options.writer)
    if sharded:  # shards store class numbers: number the labels of every input found (labels.py)
        try:
            options = dataclasses.replace(options, classes=class_list(items, found.classes))
        except LabelError as error:
            raise AugmentError(str(error)) from None
    if not sharded:
        collisions = find_collisions(items)
        if collisions:
            shown = "; ".join(f"{a} and {b}" for a, b in collisions[:5])
            more = f" (and {len(collisions) - 5} more)" if len(collisions) > 5 else ""
            raise AugmentError(
                f"inputs whose outputs would share a name: {shown}{more}; rename one of each pair "
                "or pass an explicit list with --files-from"
            )
    if not items and not failures:
        raise AugmentError(f"no images found under {request.root}")
    layout = Layout(request.shard)
    pool = open_pool(request.backend)  # a backend that cannot start is refused before OUT is touched
    try:
        try:
            out = SafeFolder(make_folder(request.out))
        except FolderError as error:
            raise AugmentError(f"cannot use OUT: {error.strerror or error}") from None
        try:
            lock = hold_folder(out, request.shard)
            lock.__enter__()
        except LockHeld as error:
            raise AugmentError(str(error)) from None
        except FolderError as error:
            raise AugmentError(str(error.strerror or error)) from None
        try:
            return _run_locked(request, out, layout, options, items, failures, started, pool)
        finally:
            lock.__exit__(None, None, None)
    finally:
        pool.close(abort=True)


def _run_locked(request, out, layout, options, items, failures, started, pool) -> RunSummary:
    sharded = is_sharded(options.writer)
    with setup_section(out) if request.shard else _nothing():
        try:
            options = settle(out, layout, options, request.overwrite)
        except RefusedOut as error:
            raise AugmentError(str(error)) from None
        base_record = {
            "ipmix_version": __version__,
            "command": request.command,
            "identity": options.identity(),
            "k": options.k,
            "copy_digits": options.digits,
            "in": str(request.root),
            "out": str(request.out),
            "shard": list(request.shard) if request.shard else None,
            "classes": _classes(items),
        }
        if sharded:
            base_record["classes"] = list(options.classes) if options.classes is not None else None
        # OUT is ours: the workers get ready while the run is planned (a refused run never starts them)
        pool.warm(warm, options)
        try:
            write_json(out, layout.run_record, {**base_record, "status": "running", "started": _iso(started)})
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(out.path / layout.run_record))) from None
    out.sweep_temporaries()

    if sharded:
        extension = writer_class(options.writer).extension
        units = assign_units(items, options, extension)
        if request.shard:
            index, count = request.shard
            units = [unit for number, unit in enumerate(units) if number % count == index]
        try:
            remove_stale_units(out, layout, units)
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(out.path))) from None
        planned_items = [item for _, members in units for item in members]
        plan = plan_units(out, layout, units, options)
    else:
        planned_items = select_shard(items, request.shard)
        plan = plan_files(out, layout, planned_items, options)
    failures = [f for f in failures if request.shard is None or shard_of(f.key, request.shard[1]) == request.shard[0]]
    if request.shard:
        from .state import dumps

        try:
            out.write_bytes(layout.plan, "".join(dumps(item.key) + "\n" for item in planned_items).encode("utf-8"))
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(out.path / layout.plan))) from None

    progress = Progress(
        total=len(planned_items) + len(failures),
        what="augmenting",
        enabled=request.show_progress,
        done=plan.already_done + len(failures),
        failed=len(failures),
    )
    job = Job(request.reader, out, options, None if sharded else layout.worker_journal_prefix)
    collector = _Collector(out, layout, options, request.on_record, progress)
    collector.failures.extend(failures)
    stop: BaseException | None = None
    try:
        with _signals_stop_the_run():
            _schedule(job, plan, pool, request.backend, collector)
    except KeyboardInterrupt:
        stop = Interrupted("interrupted", 130)
    except Interrupted as interruption:
        stop = interruption
    except RunStopped as fault:
        stop = fault
    finally:
        progress.close()
    # no task remains: the workers go now, so that their memory and the parent's sorting of the records for
    # the manifest (which grows with the run) never add up to the run's peak
    pool.close(abort=True)
    # the manifest, the Parquet manifest and the run record are written whatever stopped the run
    with _DeferredSignals() as deferred:
        status = "complete"
        if stop is not None:
            status = "interrupted" if isinstance(stop, Interrupted) else "stopped"
        try:
            manifest_records = _finalize(out, layout, sharded)
            finish(options.writer, out, layout.manifest, layout.parquet_manifest, base_record)
        except OSError as error:
            manifest_records = 0
            where = error.filename if isinstance(error.filename, str) else str(out.path)
            if stop is None or isinstance(stop, Interrupted):
                stop = RunStopped(
                    f"the manifest could not be written ({describe_os_error(error, where)}); what finished is kept "
                    "in OUT's journal"
                )
            status = "stopped"
        out.sweep_temporaries()
        finished = time.time()
        failed = sorted(collector.failures, key=lambda f: f.key)
        if status == "complete" and failed:
            status = "complete_with_failures"
        record = {
            **base_record,
            "status": status,
            "seed": options.seed,
            "mixing_set": {
                "source": options.mixing_label,
                "folder": options.mixing_folder,
                "fingerprint": options.mixing_fingerprint,
            },
            "counts": {
                "inputs": len(planned_items) + len(failures),
                "succeeded": collector.succeeded + plan.already_done,
                "failed": len(failed),
                "already_done": plan.already_done,
                "files_written": collector.written,
                "manifest_records": manifest_records,
            },
            "failures": [{"source": printable(f.key), "error": f.error} for f in failed],
            "timings": {
                "started": _iso(started),
                "finished": _iso(finished),
                "seconds": round(finished - started, 3),
                "backend": request.backend.name,
                "jobs": request.backend.jobs,
            },
        }
        if stop is not None:
            record["stopped_because"] = str(stop)
        try:
            write_json(out, layout.run_record, record)
        except OSError as error:
            if stop is None:
                stop = RunStopped(f"the run record could not be written ({describe_os_error(error, str(out.path))})")
        stop = stop or deferred.stop
        if stop is not None:
            raise stop
        return RunSummary(
            len(planned_items) + len(failures),
            plan.already_done,
            collector.succeeded + plan.already_done,
            record["failures"],
            collector.written,
            manifest_records,
            finished - started,
            record,
            options,
        )


def _classes(items: list[Item]) -> list:
    """The class names of all inputs (every shard of a run lists the same), sorted as torchvision's
    ``ImageFolder`` numbers its classes: for ``ClassLabel(names=...)`` (see README, "Reading the output")."""
    labels = {item.label for item in items if item.label is not None}
    return sorted(labels, key=lambda label: (isinstance(label, str), label))


@contextmanager
def _nothing():
    yield


def _finalize(out: SafeFolder, layout: Layout, sharded: bool) -> int:
    """Fold the journal into the state and write the manifest of exactly the outputs present and intact."""
    if sharded:
        units = valid_units(out, layout)
        out.write_bytes(layout.units, "".join(_line(unit) for unit in units).encode("utf-8"))
    journals = layout.journals(out)
    with out.session():  # the outputs are checked folder by folder
        count = write_state_and_manifest(out, layout, valid_records(out, layout, sharded))
    for name in journals:
        out.remove(name)
    return count


def _line(value) -> str:
    from .state import dumps

    return dumps(value) + "\n"


class _Collector:
    """What the driver does with each finished task: journal, print, progress, failures."""

    def __init__(self, out, layout, options, on_record, progress):
        self.out, self.layout, self.options = out, layout, options
        self.on_record, self.progress = on_record, progress
        self.failures: list[Failure] = []
        self.succeeded = 0
        self.written = 0

    def poisoned(self, work: Work) -> None:
        """``work``'s input killed its worker even alone: record it as failed and remove the outputs it may
        have written before dying (they are not recorded, and OUT holds exactly what its manifest lists)."""
        for copy, name in output_names(work.item, self.options):
            if copy in work.copies:
                try:
                    self.out.remove(name)
                except OSError:
                    pass
        self.collect(TaskResult(failed=[Failure(work.item.key, WORKER_DIED)]))

    def collect(self, result: TaskResult) -> None:
        records = [record for _, batch in result.done for record in batch]
        try:
            if result.unit is not None:
                unit_records = [{**r, "shard": result.unit["name"]} for r in records]
                append_lines(self.out, self.layout.journal, unit_records)
                append_lines(self.out, self.layout.units, [result.unit])
            # files format: each worker already journalled its inputs as they finished
        except OSError as error:
            raise RunStopped(describe_os_error(error, str(self.out.path / self.layout.journal))) from None
        self.failures.extend(result.failed)
        self.succeeded += len(result.done)
        self.written += len(records)
        self.progress.update(len(result.done) + len(result.failed), failed=len(result.failed))
        if self.on_record is not None:
            for record in records:
                try:
                    self.on_record(public(record))
                except BrokenPipeError:
                    raise Interrupted("the output pipe was closed", 141) from None
                except OSError as error:  # a full device (/dev/full), a closed descriptor…
                    raise RunStopped(
                        f"standard output cannot be written ({error.strerror or error}); --print needs a writable "
                        "standard output"
                    ) from None
        if result.fault:
            raise RunStopped(result.fault)


#: Files-format tasks are sized to take about this long, so progress moves as inputs finish (not in bursts)
#: while a task's fixed cost stays small; on a cluster, where a task costs a scheduler round trip, longer.
TASK_SECONDS = {"local": 0.3, "distributed": 2.0}
MAX_BATCH = 64
#: A task never holds more than this share of the inputs (1/20th), so progress reports each quarter on its own.
PROGRESS_STEPS = 20


def _schedule(job: Job, plan, pool, backend: BackendSpec, collector: _Collector) -> None:
    """Run the plan's tasks on the backend until all are done, retrying the tasks of dead workers in halves.

    A process pool that loses one worker may lose the tasks of the others with it, so a lost task that holds
    a single input is not blamed at once: it runs again *alone*, with nothing else in flight, and only a death
    then marks the input as the one that kills workers."""
    queue: deque[Task] = deque(Task(tuple(works), name) for name, works in plan.units.items())
    todo: deque[Work] = deque(plan.works)
    if not queue and not todo:
        return
    target = TASK_SECONDS["distributed" if backend.distributed else "local"]
    largest = max(1, min(MAX_BATCH, len(todo) // PROGRESS_STEPS))  # progress moves in small steps, whatever the size
    per_input: float | None = None
    searches: dict[str, _PoisonSearch] = {}
    handles: dict = {}
    try:
        while queue or todo or pool.in_flight:
            while pool.in_flight < pool.capacity and (queue or todo) and not _alone_in_flight(handles):
                if queue and queue[0].alone and pool.in_flight:
                    break  # it waits until the pool is empty
                if queue:
                    task = queue.popleft()
                else:
                    size = 1 if per_input is None else max(1, min(largest, round(target / max(per_input, 1e-4))))
                    task = Task(tuple(todo.popleft() for _ in range(min(size, len(todo)))))
                handles[pool.submit(run_task, job, task)] = task
            finished = pool.next_done(timeout=1.0)
            collector.progress.tick()
            if finished is None:
                continue
            handle, outcome = finished
            task = handles.pop(handle)
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkerLost):
                raise outcome
            if isinstance(outcome, WorkerLost) and len(task.works) == 1 and not task.alone:
                queue.append(Task(task.works, task.unit, task.probe, alone=True))
                continue
            if task.probe is not None:
                searches[task.probe].settled(task, outcome, queue)
                continue
            if isinstance(outcome, WorkerLost):
                if task.unit is not None:  # a shard is written by one task: find its poison with probes first
                    searches[task.unit] = _PoisonSearch(task, queue, collector)
                elif len(task.works) > 1:
                    half = len(task.works) // 2
                    queue.extendleft([Task(task.works[half:]), Task(task.works[:half])])
                else:
                    collector.poisoned(task.works[0])
                continue
            if outcome.done and task.unit is None:
                seconds = outcome.seconds / max(1, len(task.works))
                per_input = seconds if per_input is None else 0.7 * per_input + 0.3 * seconds
            collector.collect(outcome)
    except (KeyboardInterrupt, Interrupted) as stop:
        interruption = stop if isinstance(stop, Interrupted) else Interrupted("interrupted", 130)
        if interruption.status == 141:
            collector.on_record = None  # nobody reads stdout any more
        _drain(pool, handles, collector)
        raise interruption from None
    except RunStopped:  # the tasks still running finish and are recorded, so OUT holds what its manifest lists
        _drain(pool, handles, collector)
        raise
    except BaseException:
        pool.close(abort=True)
        raise


#: On Ctrl-C, SIGTERM or a closed pipe, tasks already running may finish and be recorded for this long (a task
#: takes well under a second), so a stopped run leaves no finished output unrecorded. A second signal stops at once.
DRAIN_SECONDS = 10.0


def _drain(pool, handles: dict, collector: _Collector) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while pool.in_flight and time.monotonic() < deadline:
            finished = pool.next_done(timeout=0.25)
            if finished is None:
                continue
            handle, outcome = finished
            task = handles.pop(handle, None)
            if isinstance(outcome, TaskResult) and task is not None and task.probe is None:
                try:
                    collector.collect(outcome)
                except (RunStopped, Interrupted):
                    collector.on_record = None
    except (KeyboardInterrupt, Interrupted):
        pass
    finally:
        pool.close(abort=True)


WORKER_DIED = "the worker process died while processing it (killed, or out of memory?), also when it ran alone"


def _alone_in_flight(handles: dict) -> bool:
    return any(task.alone for task in handles.values())


class _PoisonSearch:
    """A shard whose task killed its worker: its inputs are tried in halves in *probe* tasks (which store
    nothing) until each input that kills workers is alone; then the shard is written without them."""

    def __init__(self, task: Task, queue: deque, collector: _Collector):
        self.task, self.collector = task, collector
        self.poison: list[str] = []
        self.outstanding = 0
        self._probe(task.works, queue)

    def _probe(self, works: tuple, queue: deque) -> None:
        half = max(1, len(works) // 2)
        for piece in (works[:half], works[half:]):
            if piece:
                self.outstanding += 1
                queue.appendleft(Task(piece, probe=self.task.unit))

    def settled(self, probe: Task, outcome, queue: deque) -> None:
        self.outstanding -= 1
        if isinstance(outcome, WorkerLost):
            if len(probe.works) == 1:  # it died alone (see _schedule)
                self.poison.append(probe.works[0].item.key)
            else:
                self._probe(probe.works, queue)
        if self.outstanding == 0:
            kept = tuple(work for work in self.task.works if work.item.key not in self.poison)
            self.collector.collect(TaskResult(failed=[Failure(key, WORKER_DIED) for key in sorted(self.poison)]))
            queue.appendleft(Task(kept, self.task.unit))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
