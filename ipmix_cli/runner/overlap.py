"""Inputs whose outputs would overwrite those of another input still in IN, made by an earlier run.

A whole run refuses inputs whose outputs share names (``a.jpg`` and ``a.png``: same folder and stem) and tells
the user to name one of each pair with ``--files-from``. A later ``--files-from`` run naming the other one would
then write over the first one's outputs, which its ledger still lists: that input fails alone instead.

Found during the plan's walk of the ledger: a recorded unit the run's inputs do not match, whose input is still
in IN, with a stem one of the run's inputs has and an output name that input would write. The run's stems are
hashed (8 bytes an input) only when such a unit turns up (a ``--files-from`` run, a folder that could not be
listed), so a run that names all of IN pays nothing.
"""

from __future__ import annotations

import numpy as np

from ..formats.records import UnitRecord
from ..items import Failure, stem_digest


class Overlaps:
    """Collects, unit by unit, the inputs (their numbers) whose outputs another input's recorded outputs hold."""

    def __init__(self, job, inputs, numbers):
        self.job, self.inputs, self.numbers = job, inputs, numbers
        self.found: dict[int, str] = {}  # input number → the other input's key
        self._digests: np.ndarray | None = None
        self._order: np.ndarray | None = None

    def _index(self) -> None:
        numbers = np.fromiter(self.numbers, dtype=np.int64)
        digests = np.fromiter(
            (stem_digest(self.inputs.stem(int(n))) for n in numbers), dtype=np.uint64, count=len(numbers)
        )
        order = np.argsort(digests, kind="stable")
        self._digests, self._order = digests[order], numbers[order]

    def check(self, unit: UnitRecord) -> None:
        """``unit``: recorded, matched by none of the run's inputs, its input still in IN (the caller knows)."""
        if not unit.per_file or not unit.files:
            return
        if self._digests is None:
            self._index()
        stem = self.inputs.stem_of(unit.unit)
        digest = np.uint64(stem_digest(stem))
        at = int(np.searchsorted(self._digests, digest))
        recorded = {entry.name for entry in unit.files}
        while at < len(self._digests) and self._digests[at] == digest:
            number = int(self._order[at])
            at += 1
            if self.inputs.stem(number) != stem or number in self.found:
                continue
            if any(output.name in recorded for output in self.job.outputs(self.inputs[number])):
                self.found[number] = unit.unit

    def names_for(self, key: str) -> set[str]:
        """The output names the run's inputs with ``key``'s stem have (``--prune`` keeps those of a gone input:
        an input still in IN, of another job shard perhaps, has them now)."""
        if self._digests is None:
            self._index()
        stem = self.inputs.stem_of(key)
        digest = np.uint64(stem_digest(stem))
        at = int(np.searchsorted(self._digests, digest))
        names: set[str] = set()
        while at < len(self._digests) and self._digests[at] == digest:
            number = int(self._order[at])
            at += 1
            if self.inputs.stem(number) == stem:
                names.update(output.name for output in self.job.outputs(self.inputs[number]))
        return names

    def failures(self) -> list[Failure]:
        return [
            Failure(
                self.inputs.key(number),
                f"its outputs would overwrite those of {other}, still in IN (same folder and stem); rename one of "
                "them, or make this one into another OUT",
            )
            for number, other in sorted(self.found.items())
        ]
