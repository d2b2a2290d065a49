"""The worker: one task's items read, augmented, encoded and stored; their records returned (SPEC §4, §6).

Everything that goes wrong with one input (unreadable, too large, an odd name, a folder where its output
should go, an undecodable mixing picture, a bug) becomes that input's failure and the task goes on. Only a
fault of the run itself (the disk is full, OUT is read-only or not ours to write) stops the task: the worker
returns what it finished and the fault, and the driver stops the run with one line.

Workers never write the manifest; the driver never touches pixels.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..allocator import tune_allocator
from ..disk.folder import RUN_FAULT_ERRNOS, SafeFolder, UnsafePath, describe_os_error
from ..disk.inputs import InputRefused
from ..engine.copies import ConfigResolver, augment_copy
from ..errors import RunFault
from ..imaging.images import MIN_SIDE, UnreadableImage, centre_crop, decode_rgb, resize_shorter
from ..items import Failure, Item
from ..mixsets.mixing_set import MixingSet, MixingSetError
from ..seeding import generator_for
from .naming import output_names
from .options import AugmentOptions
from .records import output_record
from .state import dumps

#: Test hook: a worker SIGKILLs itself when it starts the input with this key (a poison input, exactly like an
#: out-of-memory kill), so the tests can check that one input cannot take a run down.
KILL_ON_INPUT = "IPMIX_KILL_ON_INPUT"


@dataclass(frozen=True)
class Work:
    """One input and which of its outputs to make (copy numbers; None is the clean original)."""

    item: Item
    copies: tuple


@dataclass(frozen=True)
class Task:
    works: tuple[Work, ...]
    unit: str | None = None  # the output shard a sharded writer writes whole
    probe: str | None = None  # a trial run for that shard's inputs that stores nothing (see driver)
    alone: bool = False  # run with no other task in flight: a death is then surely this task's own


@dataclass
class TaskResult:
    done: list[tuple[str, list[dict]]] = field(default_factory=list)  # (key, records) per finished input
    failed: list[Failure] = field(default_factory=list)
    fault: str | None = None
    unit: dict | None = None  # a sharded writer's record of the shard it wrote
    seconds: float = 0.0


@dataclass(frozen=True)
class Job:
    """What every task of a run shares: where inputs come from, how outputs are stored, the options, and
    (files format) the prefix of the journal each worker appends its finished inputs to."""

    reader: object
    out: SafeFolder
    options: AugmentOptions
    journal_prefix: str | None = None


@dataclass(frozen=True)
class Output:
    """One output of an input, before encoding: the clean original (copy None) or an augmented copy."""

    copy: int | None
    file_name: str
    pixels: np.ndarray
    mixing_picture: str | None
    trace: dict | None


# --- per-process state ---------------------------------------------------------------------------------

_MIXING_SETS: dict[str, MixingSet] = {}  # per worker process: each set is loaded once, not per task
_RESOLVERS: dict[str, ConfigResolver] = {}


def mixing_set_for(options: AugmentOptions) -> MixingSet:
    key = f"{options.mixing_folder}\0{options.mixing_fingerprint}"
    if key not in _MIXING_SETS:
        fingerprint = options.mixing_fingerprint or None
        mixing = MixingSet.from_folder(options.mixing_folder, expected_fingerprint=fingerprint)
        if fingerprint and mixing.fingerprint != fingerprint:
            raise RunFault(
                f"the mixing set in {options.mixing_folder} changed while the run was going on; "
                "restore it, or re-run with --overwrite to start over with the new pictures"
            )
        _MIXING_SETS.clear()
        _MIXING_SETS[key] = mixing
    return _MIXING_SETS[key]


def warm(options: AugmentOptions) -> None:
    """Make ready what every task of this run needs (configs, the mixing set, the writer's module) while the
    driver still plans the run: a new worker process otherwise pays it in its first task. Any fault is left
    for that task to report."""
    tune_allocator()
    try:
        if resolver_for(options).needs_mixing:
            mixing_set_for(options)
        from ..writers import writer_class

        writer_class(options.writer)
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def resolver_for(options: AugmentOptions) -> ConfigResolver:
    key = repr((options.preset, options.method, sorted(options.overrides.items())))
    if key not in _RESOLVERS:
        _RESOLVERS[key] = ConfigResolver(options.preset, options.method, **options.overrides)
    return _RESOLVERS[key]


# --- one input -------------------------------------------------------------------------------------------


def prepare_pixels(stream, options: AugmentOptions) -> np.ndarray:
    """Read, orient, convert and optionally resize and crop one input (SPEC §4 "Reading")."""
    pixels = decode_rgb(stream, options.background)
    if options.resize:
        pixels = resize_shorter(pixels, options.resize)
    if options.crop:
        pixels = centre_crop(pixels, *options.crop)
    if min(pixels.shape[:2]) < MIN_SIDE:
        raise UnreadableImage(
            f"image is {pixels.shape[1]}×{pixels.shape[0]}; IPMix needs at least {MIN_SIDE}×{MIN_SIDE} pixels "
            "(--resize can enlarge it)"
        )
    return pixels


def render_outputs(
    pixels: np.ndarray,
    item: Item,
    options: AugmentOptions,
    mixing: MixingSet | None,
    configs: ConfigResolver,
    copies: tuple | None = None,
) -> Iterator[Output]:
    """The outputs ``copies`` (default: all) of one prepared input, in order: what ``augment`` writes and
    ``preview`` shows."""
    config = configs(*pixels.shape[:2])
    for copy, file_name in output_names(item, options):
        if copies is not None and copy not in copies:
            continue
        if copy is None:
            yield Output(None, file_name, pixels, None, None)
            continue
        made = augment_copy(pixels, mixing, generator_for(options.seed, item.key, copy), config)
        yield Output(copy, file_name, made.pixels, made.mixing_picture, made.trace())


def failure_reason(error: BaseException) -> str:
    """What a user reads about an input that failed with ``error``; :class:`RunFault` for run faults."""
    if isinstance(error, (UnreadableImage, InputRefused, UnsafePath)):
        return str(error)
    if isinstance(error, MemoryError):
        return "not enough memory to augment it"
    if isinstance(error, MixingSetError):
        return f"a mixing picture could not be used: {error}"
    if isinstance(error, OSError):
        where = error.filename if isinstance(error.filename, str) else "its output"
        if error.errno in RUN_FAULT_ERRNOS:
            raise RunFault(describe_os_error(error, where)) from error
        return describe_os_error(error, where)
    return f"unexpected error (please report it): {type(error).__name__}: {error}"


#: Outputs are made in groups of about this many pixel bytes, then encoded and written together. Alternating
#: the Python-heavy augmentation with the encoder for every single copy leaves each of them working from cold
#: caches; grouping measured about 10 % faster per copy at 224×224. The bound keeps memory flat for big images.
GROUP_BYTES = 4 * 2**20


class _Pending:
    """An input whose outputs are being made: they wait in a group until encoded and stored together. ``item``
    is the reader's item, which may carry ``meta`` the planned item did not (see ``readers``)."""

    def __init__(self, work: Work, pixels: np.ndarray, item: Item):
        self.work, self.pixels, self.item = work, pixels, item
        self.outputs: list[Output] = []
        self.error: BaseException | None = None


def run_task(job: Job, task: Task) -> TaskResult:
    """A worker's task: each input gives its records or its failure (see the module docstring)."""
    started = time.perf_counter()
    tune_allocator()
    result = TaskResult()
    options = job.options
    try:
        configs = resolver_for(options)
        mixing = mixing_set_for(options) if configs.needs_mixing else None
        from ..writers import open_writer

        keys = tuple(work.item.key for work in task.works)
        writer = _NullWriter() if task.probe else open_writer(options.writer, job.out, options, task.unit, keys)
    except RunFault as fault:
        result.fault = str(fault)
        return result
    except (MixingSetError, OSError) as error:
        result.fault = f"cannot start: {error}"
        return result
    journal = None if task.probe or not job.journal_prefix else _Journal(job.out, job.journal_prefix)
    with job.out.session():
        _run_works(job, task, writer, mixing, configs, journal, result)
    result.seconds = time.perf_counter() - started
    return result


def _run_works(job: Job, task: Task, writer, mixing, configs, journal, result: TaskResult) -> None:
    options = job.options
    kill_key = os.environ.get(KILL_ON_INPUT)
    group: list[_Pending] = []
    group_bytes = 0
    try:
        for item, opened in job.reader.inputs([work.item for work in task.works]):
            work = next(w for w in task.works if w.item is item or w.item.key == item.key)
            if kill_key and item.key == kill_key:
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                with opened as stream:
                    pending = _Pending(work, prepare_pixels(stream, options), item)
                for output in render_outputs(pending.pixels, item, options, mixing, configs, work.copies):
                    pending.outputs.append(output)
                    group_bytes += output.pixels.nbytes
            except Exception as error:  # noqa: BLE001 - every fault of one input is that input's failure
                result.failed.append(Failure(item.key, failure_reason(error)))
                continue
            group.append(pending)
            if group_bytes >= GROUP_BYTES:
                _store(group, writer, options, result, journal)
                group, group_bytes = [], 0
        _store(group, writer, options, result, journal)
        result.unit = writer.close()
    except RunFault as fault:
        writer.abort()
        result.fault = str(fault)
        if task.unit is not None:
            result.done = []  # an aborted shard stores nothing: none of its inputs is finished
    except BaseException:
        writer.abort()
        raise
    finally:
        if journal is not None:
            journal.close()


class _NullWriter:
    """Stores nothing: a probe only finds out whether its inputs can be made without killing the worker."""

    def add(self, item, output, data, encoder) -> dict:
        return {"file_name": output.file_name}

    def drop(self, item) -> None:
        pass

    def close(self) -> None:
        return None

    def abort(self) -> None:
        pass


class _Journal:
    """This worker's journal: each finished input's records appended as soon as its files exist, so that a
    killed run loses at most the inputs being made at that moment (one append per input; a kill can tear
    only the last line, which readers skip). The file is opened at the first append and closed with the task."""

    def __init__(self, out: SafeFolder, prefix: str):
        from ..disk.atomic import process_token

        self.out, self.name = out, f"{prefix}{process_token()}.jsonl"
        self._file = ExitStack()
        self._append = None

    def record(self, records: list[dict]) -> None:
        text = "".join(dumps(record) + "\n" for record in records)
        try:
            if self._append is None:
                self._append = self._file.enter_context(self.out.open_append(self.name))
            self._append(text)
        except OSError as error:  # any fault of the journal stops the run: it names the journal's full path
            raise RunFault(describe_os_error(error, str(self.out.path / self.name))) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # every append has been written; a failing close loses nothing
            pass


def _store(group: list[_Pending], writer, options: AugmentOptions, result: TaskResult, journal=None) -> None:
    """Encode and store the outputs of a group of inputs, each input's faults kept to itself."""
    for pending in group:
        item = pending.item
        try:
            encoder = options.encoder_for(item.hint)
            records = []
            for output in pending.outputs:
                data = encoder.encode(output.pixels)
                location = writer.add(item, output, data, encoder)
                records.append(output_record(item, output, data, location, options))
        except RunFault:
            raise
        except Exception as error:  # noqa: BLE001
            result.failed.append(Failure(item.key, failure_reason(error)))
            writer.drop(item)
            continue
        if journal is not None:
            journal.record(records)
        result.done.append((item.key, records))
