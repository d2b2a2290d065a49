"""What the jobs that read images from IN share (``augment``, ``corrupt``): the reader, labels and splits, the
class list of shard outputs, names that must not collide, the seed a run settles, and the output shards."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..allocator import tune_allocator
from ..errors import UsageError
from ..imaging.images import UnreadableImage
from ..items import Item, stem_digest
from ..labels import class_list, classes_digest
from ..runner.job import Found, Job, Output
from ..runner.layout import reserved
from ..seeding import fresh_seed
from ..writers import WriterSettings, is_sharded


class ImageJob(Job):
    """A job over the images a reader finds in IN; ``options`` is the job's frozen options dataclass (with at
    least ``seed``, ``writer``, ``samples_per_shard``, ``classes``, ``trace`` and ``outputs_per_input``)."""

    #: The manifest's columns in a Parquet table (shards and WebDataset's ``metadata.parquet``), in order,
    #: before ``trace`` and ``meta``.
    COLUMNS: tuple = ()

    def __init__(self, reader, options, labels: list | None = None, splits: tuple = ()):
        self.reader, self.options = reader, options
        self.labels = labels or []  # the class names (or numbers) of every input found, sorted (run record)
        self.splits = tuple(splits)  # the splits IN's layout has (train, validation, test), if any

    def __reduce__(self):
        return type(self), (self.reader, self.options, self.labels, self.splits)

    @property
    def output_format(self) -> str:
        return self.options.writer

    @property
    def seed(self) -> int | None:
        return self.options.seed

    def _with(self, **changes):
        return type(self)(self.reader, dataclasses.replace(self.options, **changes), self.labels, self.splits)

    # --- the driver ------------------------------------------------------------------------------------

    def plan(self) -> Found:
        return self.reader.plan()

    def prepared(self, found: Found):
        """Shards store class numbers: the labels of every input found are numbered (``labels.py``); files
        whose outputs would share a name are refused."""
        inputs = found.inputs
        labels = sorted(inputs.label_values(), key=lambda label: (isinstance(label, str), label))
        job = type(self)(self.reader, self.options, labels, tuple(sorted(inputs.split_values())))
        if is_sharded(self.options.writer):
            return job._with(classes=class_list(labels, found.classes, inputs))
        collisions = find_collisions(inputs)
        if collisions:
            shown = "; ".join(f"{a} and {b}" for a, b in collisions[:5])
            more = f" (and {len(collisions) - 5} more)" if len(collisions) > 5 else ""
            raise UsageError(
                f"inputs whose outputs would share a name: {shown}{more}; rename one of each pair "
                "or pass an explicit list with --files-from"
            )
        return job

    def nothing_found(self) -> str:
        return f"no images found under {self.reader.root.given}"

    def identity(self) -> dict:
        return self.options.identity()

    def settled_seed(self, previous) -> dict:
        """The seed OUT's earlier run recorded when none was given (else a fresh one), as options changes."""
        if self.options.seed is not None:
            return {}
        seed = previous.identity.get("seed") if previous else None
        valid = isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
        return {"seed": seed if valid else fresh_seed()}

    def labels_fields(self) -> dict:
        """The run record's ``classes`` (shards: the class list their numbers index; files: for
        ``ClassLabel(names=...)``) and ``splits``."""
        options = self.options
        if is_sharded(options.writer):
            fields = {"classes": list(options.classes) if options.classes is not None else None}
        else:
            fields = {"classes": self.labels}
        if self.splits:
            fields["splits"] = list(self.splits)
        return fields

    def has_splits(self) -> bool:
        """Whether each split folder gets a manifest of its own (files format; Hugging Face's imagefolder
        reads only those when OUT has split folders)."""
        return bool(self.splits) and not is_sharded(self.options.writer)

    def manifest_fields(self, labels: set) -> dict:
        """Files format: ``classes`` names every label the manifest holds, kept outputs of a renamed class
        folder included (``ClassLabel(names=classes)`` must accept every record). Shards keep the class list
        their numbers index."""
        if is_sharded(self.options.writer):
            return {}
        every = set(self.labels) | labels
        return {"classes": sorted(every, key=lambda label: (isinstance(label, str), label))}

    def refuse_reserved(self, item: Item, outputs: list[Output], base: int = 0) -> None:
        """An input whose outputs would land in a folder named like one of ipmix's files fails (checked before
        anything is made); ``base`` folders of the output names come before the input's own."""
        if outputs and not is_sharded(self.options.writer):
            name = outputs[0].name.split("/", base)[-1]
            problem = reserved(name, item.split is not None)
            if problem:
                raise UnreadableImage(f"{problem}; rename it (its outputs would collide with ipmix's files)")

    # --- shard formats -----------------------------------------------------------------------------------

    def inputs_per_unit(self) -> int:
        return max(1, self.options.samples_per_shard // self.options.outputs_per_input)

    def unit_name(self, index: int, count: int) -> str:
        extension = "tar" if self.options.writer == "webdataset" else "parquet"
        return f"{index:0{max(5, len(str(count - 1)))}d}.{extension}"

    def classes_digest(self) -> str:
        return classes_digest(self.options.classes)

    def writer_settings(self) -> WriterSettings:
        columns = self.COLUMNS + ((("trace", "string"),) if self.options.trace else ()) + (("meta", "string"),)
        return WriterSettings(self.options.classes, columns, self.inputs_per_unit())

    def warm(self) -> None:
        tune_allocator()
        try:
            from ..writers import writer_class

            writer_class(self.options.writer)
        except Exception:  # noqa: BLE001 - any fault is left for the first task to report
            pass

    def record_head(self, item: Item) -> dict:
        """The first fields of an output's record: its input's key, label and split."""
        record = {"source": item.key, "label": item.label}
        if item.split is not None:
            record["split"] = item.split
        return record

    def current(self, item: Item, record: dict) -> bool:
        """The record's label, split and ``meta`` are the item's now (compared as the manifest holds them)."""
        from ..formats.jsonlines import dumps

        now = {"split": None, **self.record_head(item), "meta": item.meta or None}
        return dumps(now) == dumps({key: record.get(key) for key in now})

    def record_tail(self, record: dict, item: Item, trace) -> dict:
        if self.options.trace and trace is not None:
            from ..formats.jsonlines import dumps

            record["trace"] = dumps(trace)
        if item.meta:
            record["meta"] = item.meta
        return record


def find_collisions(inputs) -> list[tuple[str, str]]:
    """Pairs of inputs whose outputs would share names (same folder and stem, e.g. a.jpg and a.png), found by
    8-byte digests of the stems (exact comparison only among the few that share one)."""
    count = len(inputs)
    if count < 2:
        return []
    digests = np.empty(count, dtype=np.uint64)
    for number in range(count):
        digests[number] = stem_digest(inputs.stem(number))
    order = np.argsort(digests, kind="stable")
    ordered = digests[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    clashes = []
    seen: dict[str, str] = {}
    for position in repeated:
        for number in (int(order[position]), int(order[position + 1])):
            item = inputs[number]
            owner = seen.setdefault(item.stem, item.key)
            if owner != item.key and (owner, item.key) not in clashes:
                clashes.append((owner, item.key))
    return sorted(clashes)
