"""What the engine runs: a *job* is a reader of work items, a pure work function and a writer.

The engine (``engine.run``) owns everything around them: OUT's lock and ledger, planning against what OUT
already holds, resume, per-input isolation, the search for an input that kills workers, signals, progress,
backends, job shards and the run record. A job only says:

- what its inputs are (``plan``: a reader's compact ``Inputs``) and what outputs each has (``outputs``);
- what decides its bytes (``identity``), and what a run into an OUT made before may continue (``settle``);
- how to make an input's outputs in a worker (``render`` then ``encode``: pure functions of the item, the
  bytes read and the job's settings, so the same bytes come out whatever the worker, order or interruption);
- how they are stored (``output_format`` and ``writer_settings``) and what names it gives them (``owns``).

``augment``, ``fractals build`` and ``corrupt`` are jobs (``ipmix_cli/jobs``). Adding a job is one module there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..items import Failure, Item
from ..readers import Found


@dataclass(frozen=True)
class Output:
    """One output an item has: its place among the item's outputs, its file name relative to OUT (``files``
    format) and its dot-free tag in a shard's sample names (``ipmix2``, ``original``)."""

    order: int
    name: str
    tag: str


@dataclass
class Render:
    """An output made in memory: pixels to encode (or bytes already encoded) and its record's own fields."""

    output: Output
    pixels: object = None  # numpy array
    data: bytes | None = None
    fields: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(getattr(self.pixels, "nbytes", 0)) + len(self.data or b"")


@dataclass(frozen=True)
class Made:
    """An output encoded: its bytes, their extension, and its record without its location."""

    output: Output
    data: bytes
    extension: str
    record: dict


@dataclass(frozen=True)
class Work:
    """One input and which of its outputs to make (their ``Output.order``; None: all of them)."""

    item: Item
    orders: tuple | None = None


@dataclass(frozen=True)
class Task:
    works: tuple[Work, ...]
    unit: str | None = None  # the output shard a shard format writes whole
    probe: str | None = None  # a trial run of that shard's inputs that stores nothing (see ``schedule``)
    alone: bool = False  # run with no other task in flight: a death is then surely this task's own


@dataclass
class TaskResult:
    done: list[tuple[str, list[dict]]] = field(default_factory=list)  # (key, records) per finished input
    failed: list[Failure] = field(default_factory=list)
    fault: str | None = None
    seconds: float = 0.0


class Job:
    """Base of the jobs (see the module docstring); the defaults suit a job without resume by extension."""

    name = "job"
    record_base = "ipmix_run"
    output_format = "files"
    what = "inputs"  # what progress counts
    verb = "processing"
    seed: int | None = None
    log_progress = True  # progress lines in logs (a bar on a terminal either way)

    # --- the driver ------------------------------------------------------------------------------------

    def plan(self) -> Found:
        raise NotImplementedError

    def prepared(self, found: Found) -> Job:
        """This job once its inputs are known (e.g. with the class list of every input); refuse inputs that
        cannot be made together with a ``UsageError``."""
        return self

    def nothing_found(self) -> str:
        return "no inputs found"

    def identity(self) -> dict:
        """Everything that decides an output's bytes or name, but not how many outputs there are."""
        raise NotImplementedError

    def settle(self, previous) -> Job:
        """This job as it must run in an OUT whose run record is ``previous`` (e.g. the seed it recorded)."""
        return self

    def comparable(self, record, sibling: bool) -> tuple[dict, dict]:
        """The recorded identity and this run's, as compared to decide whether this run continues ``record``'s
        (``sibling``: ``record`` is another job shard of the same split)."""
        return dict(record.identity), dict(self.identity())

    def differences(self, old: dict, new: dict) -> list[str]:
        """``name: old → new`` for every identity field that differs, for refusal messages."""
        return [
            f"{name}: {old.get(name)!r} → {new.get(name)!r}"
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
        ]

    def shrinking(self, previous) -> str | None:
        """Why this run would leave outputs of ``previous`` behind, still listed (e.g. a lower ``--k``)."""
        return None

    def outputs(self, item: Item) -> list[Output]:
        raise NotImplementedError

    def owns(self, name: str) -> bool:
        """Whether ``name`` has the shape of a name this job gives outputs (checked before deleting any file
        whose name was read back from OUT)."""
        raise NotImplementedError

    def run_fields(self, status: str = "running") -> dict:
        """The job's own top-level fields of the run record (``status``: the run's, as it will be recorded)."""
        return {}

    def keeps(self, record: dict) -> bool:
        """Whether an output a run recorded is one these settings name (else, with ``--overwrite``, a smaller
        ``--k`` or ``--count`` removes it)."""
        return True

    def key_of(self, record: dict) -> str:
        """The key of the input a manifest record was made from (``verify --replay`` finds it by this)."""
        key = record["source"]
        if not isinstance(key, str):
            raise ValueError(f"the record's source {key!r} is not an input's key")
        return key

    def claims(self, unit: str, record: dict) -> bool:
        """Whether the per-file unit called ``unit`` (an input's key) may hold ``record``, read back from a ledger
        file: only the input's own outputs (a forged line claiming another input's output is dropped)."""
        try:
            return self.key_of(record) == unit
        except (KeyError, TypeError, ValueError):
            return False

    def current(self, item: Item, record: dict) -> bool:
        """Whether ``record``, made from ``item`` earlier, still says what the item says now (its label, split,
        passed-through fields): a sample whose label changed while its image did not is made again."""
        return True

    def record_order(self, record: dict):
        """Where a record goes among its input's records (the manifest order within an input)."""
        return 0

    def split_of(self, record: dict) -> str | None:
        return record.get("split")

    def has_splits(self) -> bool:
        """Whether each split folder gets a manifest of its own (see ``ledger.Ledger.finalize``)."""
        return False

    # shard formats: how inputs are grouped into output shards, and the shards' class list
    def inputs_per_unit(self) -> int:
        return 1

    def unit_name(self, index: int, count: int) -> str:
        raise NotImplementedError

    def classes_digest(self) -> str | None:
        return None

    def summary_fields(self, counts: dict) -> dict:
        """The job's own fields of the final run record, from the run's counts."""
        return {}

    def manifest_fields(self, labels: set) -> dict:
        """The job's fields of the final run record that depend on what the manifest holds: ``labels``, those
        its records carry (the inputs' now, and those of outputs kept from inputs gone)."""
        return {}

    # --- the workers -----------------------------------------------------------------------------------

    reader = None  # picklable; ``inputs(items)`` opens items in a worker

    def warm(self) -> None:
        """Get ready in a new worker (load what every task needs) while the driver still plans the run."""

    def render(self, item: Item, stream, outputs: list[Output]) -> Iterator[Render]:
        raise NotImplementedError

    def encode(self, item: Item, render: Render) -> Made:
        raise NotImplementedError

    def writer_settings(self):
        return None
