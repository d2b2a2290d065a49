"""The worker's side of the engine: one task's inputs read, made, encoded and stored; their units journalled.

Everything that goes wrong with one input (unreadable, too large, an odd name, a folder where its output
should go, a bug) becomes that input's failure and the task goes on. Only a fault of the run itself (the disk
is full, OUT is read-only, a journal cannot be written) stops the task: the worker returns what it finished and
the fault, and the driver stops the run with one line.

Each finished unit (an input's outputs for per-file formats, the shard for shard formats) is appended to this
worker's journal the moment its files exist, so a hard kill loses only the units being made. Workers never
write the manifest; the driver never touches pixels.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time

from ..allocator import tune_allocator
from ..disk.folder import RUN_FAULT_ERRNOS, UnsafePath, describe_os_error
from ..errors import InputFailure, RunFault, UsageError
from ..formats.records import InputEntry, UnitRecord
from ..items import Failure
from ..writers import open_writer
from .job import Made, Task, TaskResult
from .ledger import Journal

#: Test hook: a worker SIGKILLs itself when it starts the input with this key (a poison input, exactly like an
#: out-of-memory kill), so the tests can check that one input cannot take a run down.
KILL_ON_INPUT = "IPMIX_KILL_ON_INPUT"

#: Test hook for interruptions that never race the program: with IPMIX_TEST_GATE=<path> and
#: IPMIX_TEST_GATE_AFTER=N, a process that has started N inputs writes ``<path>.reached`` and then waits, before
#: the next input, until ``<path>.open`` exists (once per process). A test waits for the marker, sends its signal,
#: then opens the gate: the run is stopped at a known point, not by luck.
TEST_GATE = "IPMIX_TEST_GATE"
_gate = {"started": 0, "passed": False}


def _test_gate() -> None:
    path = os.environ.get(TEST_GATE)
    if not path or _gate["passed"]:
        return
    if _gate["started"] < int(os.environ.get(TEST_GATE + "_AFTER", "0") or 0):
        _gate["started"] += 1
        return
    _gate["passed"] = True
    with open(f"{path}.reached", "a") as marker:
        marker.write(f"{os.getpid()}\n")
    while not os.path.exists(f"{path}.open"):  # a test hook: the test opens the gate within moments
        time.sleep(0.005)


#: Outputs are made in groups of about this many pixel bytes, then encoded and stored together. Alternating
#: the Python-heavy augmentation with the encoder for every single copy leaves each of them working from cold
#: caches; grouping measured about 10 % faster per copy at 224×224. The bound keeps memory flat for big images.
GROUP_BYTES = 4 * 2**20

#: Reading an input whole (to hash it) is bounded: a larger file is decoded from its stream and not hashed.
HASHED_BYTES = 256 * 2**20


def failure_reason(error: BaseException) -> str:
    """What a user reads about an input that failed with ``error``; :class:`RunFault` for run faults."""
    if isinstance(error, (InputFailure, UsageError)):
        return str(error)
    if isinstance(error, MemoryError):
        return "not enough memory to make it"
    if isinstance(error, OSError):
        where = error.filename if isinstance(error.filename, str) else "its output"
        if error.errno in RUN_FAULT_ERRNOS:
            raise RunFault(describe_os_error(error, where)) from error
        return describe_os_error(error, where)
    return f"unexpected error (please report it): {type(error).__name__}: {error}"


class _Pending:
    """An input whose outputs are being made: they wait in a group until encoded and stored together. ``item``
    is the reader's item, which may carry ``meta`` the planned item did not (see ``readers``)."""

    def __init__(self, item, entry: InputEntry):
        self.item, self.entry = item, entry
        self.renders: list = []


def _read(stream) -> tuple[object, str | None]:
    """The stream to decode, and the SHA-256 of the input's bytes when they could be read whole."""
    if stream is None:
        return None, None
    data = stream.read(HASHED_BYTES + 1)
    if len(data) > HASHED_BYTES:
        stream.seek(0)
        return stream, None
    return io.BytesIO(data), hashlib.sha256(data).hexdigest()


def run_task(job, out, journal_prefix: str | None, task: Task) -> TaskResult:
    """A worker's task: each input gives its records or its failure (see the module docstring)."""
    started = time.perf_counter()
    tune_allocator()
    result = TaskResult()
    try:
        job.warm()
        keys = tuple(work.item.key for work in task.works)
        if task.probe:
            writer = _NullWriter()
        else:
            writer = open_writer(job.output_format, out, job.writer_settings(), task.unit, keys)
    except RunFault as fault:
        result.fault = str(fault)
        return result
    except (UsageError, OSError) as error:
        result.fault = f"cannot start: {error}"
        return result
    journal = None if task.probe or journal_prefix is None else Journal(out, journal_prefix)
    try:
        with out.session():
            _run_works(job, task, writer, journal, result)
    finally:
        if journal is not None:
            journal.close()
    result.seconds = time.perf_counter() - started
    return result


def _run_works(job, task: Task, writer, journal, result: TaskResult) -> None:
    kill_key = os.environ.get(KILL_ON_INPUT)
    wanted = {work.item.key: work for work in task.works}
    entries: list[InputEntry] = []
    group: list[_Pending] = []
    group_bytes = 0
    try:
        for item, opened in job.reader.inputs([work.item for work in task.works]):
            work = wanted[item.key]
            if kill_key and item.key == kill_key:
                os.kill(os.getpid(), signal.SIGKILL)
            _test_gate()
            outputs = job.outputs(item)
            if work.orders is not None:
                outputs = [output for output in outputs if output.order in work.orders]
            size, mtime = _identity(item)
            try:
                with opened as stream:
                    readable, digest = _read(stream)
                    pending = _Pending(item, InputEntry(item.key, size, mtime, digest))
                    for render in job.render(item, readable, outputs):
                        pending.renders.append(render)
                        group_bytes += render.nbytes
            except Exception as error:  # noqa: BLE001 - every fault of one input is that input's failure
                result.failed.append(Failure(item.key, failure_reason(error)))
                continue
            entries.append(pending.entry)
            group.append(pending)
            if group_bytes >= GROUP_BYTES:
                _store(job, group, writer, result, journal)
                group, group_bytes = [], 0
        _store(job, group, writer, result, journal)
        closed = writer.close()
        if closed is not None and journal is not None:
            shard, failed_keys = closed
            failed = {failure.key: failure.error for failure in result.failed}
            made = {entry.key: entry for entry in entries}
            inputs = tuple(made.get(w.item.key) or InputEntry(w.item.key, *_identity(w.item)) for w in task.works)
            records = tuple(record for _, batch in sorted(result.done, key=lambda done: done[0]) for record in batch)
            unit = UnitRecord(
                task.unit,
                inputs,
                (shard,),
                records,
                tuple((key, failed.get(key, "not stored")) for key in failed_keys),
                _classes_digest(job),
            )
            journal.record(unit)
    except RunFault as fault:
        writer.abort()
        result.fault = str(fault)
        if task.unit is not None:
            result.done = []  # an aborted shard stores nothing: none of its inputs is finished
    except BaseException:
        writer.abort()
        raise


def _identity(item) -> tuple[int, int]:
    return tuple(item.identity) if item.identity else (-1, -1)


def _classes_digest(job) -> str | None:
    from ..labels import classes_digest

    settings = job.writer_settings()
    return classes_digest(settings.classes) if settings is not None else None


class _NullWriter:
    """Stores nothing: a probe only finds out whether its inputs can be made without killing the worker."""

    def add(self, item, made: Made):
        return {"file_name": made.output.name}, None

    def drop(self, item) -> None:
        pass

    def close(self) -> None:
        return None

    def abort(self) -> None:
        pass


def _store(job, group: list[_Pending], writer, result: TaskResult, journal) -> None:
    """Encode and store the outputs of a group of inputs, each input's faults kept to itself; per-file formats
    journal each input's unit as soon as its files exist."""
    for pending in group:
        item = pending.item
        try:
            records, files = [], []
            for render in pending.renders:
                made = job.encode(item, render)
                record, entry = writer.add(item, made)
                records.append(record)
                if entry is not None:
                    files.append(entry)
        except RunFault:
            raise
        except Exception as error:  # noqa: BLE001
            result.failed.append(Failure(item.key, failure_reason(error)))
            writer.drop(item)
            continue
        if journal is not None and files:
            journal.record(UnitRecord(item.key, (pending.entry,), tuple(files), tuple(records)))
        result.done.append((item.key, records))


__all__ = ["KILL_ON_INPUT", "failure_reason", "run_task", "UnsafePath"]
