"""What a run must do in an OUT that may already hold work: a merge-join of the inputs with the ledger's units.

Both are sorted by unit name (per-file formats: the input's key; shard formats: the shard's name), so the join
streams and holds nothing per input but a few integers for the inputs still to do.

An input's recorded outputs are kept when the input is unchanged and each output is recorded under the name
the settings give it with its file still holding the recorded bytes (trusted by its signature, else hashed).
*Unchanged* means the same size and modification time as when it was read; a file whose time changed but
whose bytes did not (``touch``, a copy that kept the bytes) is recognised by the SHA-256 recorded when it was
read, and its new identity recorded, so it is not hashed again. A changed input is made again whole; an input
that disappeared from IN is *vanished*: its outputs stay (and stay listed) unless ``--prune`` removes them.
A shard is kept when it holds exactly its planned inputs, all unchanged, none failed, numbered with the run's
class list, and its file holds the recorded bytes.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..formats.records import InputEntry, UnitRecord
from ..items import Item


@dataclass
class Plan:
    """The work of a run (see the module docstring), compact: input numbers, not items."""

    todo: array = field(default_factory=lambda: array("q"))  # per-file formats: inputs to make (their numbers)
    partial: dict[int, tuple] = field(default_factory=dict)  # input number → the only outputs it needs
    units: list[tuple[str, int, int]] = field(default_factory=list)  # shard formats: (name, first, end) to write
    planned: int = 0  # inputs this run (or job shard) is about
    already_done: int = 0
    changed: int = 0  # inputs made again because they changed since their outputs were made
    redone: int = 0  # inputs made again (in part) because recorded outputs were missing or damaged
    vanished: list[str] = field(default_factory=list)  # units of inputs no longer in IN
    vanished_inputs: int = 0
    refreshed: int = 0  # units whose inputs were touched (time changed, bytes did not): recorded anew
    stale_units: list[str] = field(default_factory=list)  # shards the plan no longer names
    damaged: int = 0  # units outside this run's inputs (vanished, not listed, another shard's) with a file
    # missing or changed: the manifest must be written again without them


class Joiner:
    """Walks the ledger's units alongside the planned unit names (both sorted)."""

    def __init__(self, units: Iterator[UnitRecord]):
        self._units = units
        self._pending = next(units, None)

    def take(self, name: str, passed) -> UnitRecord | None:
        """The recorded unit called ``name``; every unit before it is handed to ``passed``."""
        while self._pending is not None and self._pending.unit < name:
            passed(self._pending)
            self._pending = next(self._units, None)
        if self._pending is not None and self._pending.unit == name:
            found, self._pending = self._pending, next(self._units, None)
            return found
        return None

    def rest(self, passed) -> None:
        while self._pending is not None:
            passed(self._pending)
            self._pending = next(self._units, None)


def input_state(entry: InputEntry, item: Item, digest_of) -> str:
    """``same``, ``touched`` (its time changed, its bytes did not) or ``changed``."""
    if not item.identity:
        return "same" if entry.size < 0 else "changed"
    size, mtime = item.identity
    if entry.same_input(size, mtime):
        return "same"
    if entry.sha256 is not None and size == entry.size:
        try:
            if digest_of(item) == entry.sha256:
                return "touched"
        except OSError:
            pass
    return "changed"


def plan_per_file(
    job, ledger, inputs, selected: Iterator[int], is_ours, digest_of, prune: bool, refresh=None, unmatched=None
) -> Plan:
    """The plan of a per-file format: which outputs of which inputs to make (see the module docstring).
    ``is_ours(key)`` says whether a recorded input belongs to this run's share (job shards, lists) and is gone
    from IN; ``refresh(unit)`` records a touched input's new identity (none is recorded when not given);
    ``unmatched(unit)`` hears of each recorded unit none of the run's inputs matched."""
    plan = Plan()
    joiner = Joiner(ledger.units())

    def passed(unit: UnitRecord) -> None:
        if unit.inputs and is_ours(unit.inputs[0].key):
            plan.vanished.append(unit.unit)
            plan.vanished_inputs += 1
        if not plan.damaged and not all(ledger.still_valid(entry) is not None for entry in unit.files):
            plan.damaged += 1
        if unmatched is not None:
            unmatched(unit)

    with ledger.out.session():
        for number in selected:
            plan.planned += 1
            item = inputs[number]
            recorded = joiner.take(item.key, passed)
            outputs = job.outputs(item)
            if recorded is None or not recorded.per_file or len(recorded.inputs) != 1:
                plan.todo.append(number)
                continue
            state = input_state(recorded.inputs[0], item, digest_of)
            if state == "changed" or not all(job.current(item, record) for record in recorded.records):
                plan.changed += 1
                plan.todo.append(number)
                continue
            files = {entry.name: entry for entry in recorded.files}
            missing = tuple(
                output.order
                for output in outputs
                if output.name not in files or ledger.still_valid(files[output.name]) is None
            )
            if state == "touched" and refresh is not None:
                size, mtime = item.identity
                entry = recorded.inputs[0]
                refresh(
                    UnitRecord(
                        recorded.unit,
                        (InputEntry(entry.key, size, mtime, entry.sha256),),
                        recorded.files,
                        recorded.records,
                    )
                )
                plan.refreshed += 1
            if not missing:
                plan.already_done += 1
                continue
            plan.todo.append(number)
            if any(output.name in files for output in outputs if output.order in missing):
                plan.redone += 1
            if len(missing) < len(outputs):
                plan.partial[number] = missing
        joiner.rest(passed)
    if not prune:
        plan.vanished = []
    return plan


def assign_units(count: int, per_unit: int, name_of) -> list[tuple[str, int, int]]:
    """Output shards of a shard format: the inputs (sorted by key) in runs of ``per_unit`` inputs; the rule
    depends only on the number of inputs and the settings."""
    units = max(1, -(-count // per_unit)) if count else 0
    return [(name_of(index, units), index * per_unit, min(count, (index + 1) * per_unit)) for index in range(units)]


def plan_units(job, ledger, inputs, units: list[tuple[str, int, int]], digest_of, classes: str | None) -> Plan:
    """The plan of a shard format: which shards to write (see the module docstring)."""
    plan = Plan()
    planned = {name for name, _, _ in units}
    joiner = Joiner(ledger.units())

    def passed(unit: UnitRecord) -> None:
        if unit.unit not in planned:
            plan.stale_units.append(unit.unit)

    with ledger.out.session():
        for name, first, end in units:
            plan.planned += end - first
            recorded = joiner.take(name, passed)
            if (
                recorded is None
                or recorded.failed
                or recorded.classes != classes
                or len(recorded.inputs) != end - first
            ):
                plan.units.append((name, first, end))
                continue
            same = True
            records: dict[str, list] = {}
            for record in recorded.records:
                records.setdefault(record.get("source"), []).append(record)
            for number, entry in zip(range(first, end), recorded.inputs):
                item = inputs[number]
                if entry.key != item.key:
                    same = False
                    break
                state = input_state(entry, item, digest_of)
                if state == "changed" or not all(job.current(item, record) for record in records.get(item.key, ())):
                    plan.changed += 1
                    same = False
            if same and all(ledger.still_valid(entry) is not None for entry in recorded.files):
                plan.already_done += end - first
            else:
                plan.units.append((name, first, end))
        joiner.rest(passed)
    return plan


def selected_numbers(inputs, shard: tuple[int, int] | None, shard_of):
    """The numbers of the inputs a run (or job shard ``I/N``) makes (a ``range``, or an array for a shard)."""
    if shard is None:
        return range(len(inputs))
    index, count = shard
    return np.fromiter(
        (number for number in range(len(inputs)) if shard_of(inputs.key(number), count) == index), dtype=np.int64
    )
