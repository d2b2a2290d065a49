"""Re-creating a manifest record's output from what OUT recorded (``ipmix verify --replay``, and the API).

An ``augment`` record with a ``trace`` is replayed from it alone: the input, the mixing window the trace names (picture,
scaled size, corner) and ``apply_plan``; no random draw is made again. A record without one is made again from
its seed: the copy's generator ``generator_for(seed, source, copy)`` and the run's settings. Either way the
result is encoded as the run encoded it, so its SHA-256 can be compared with the record's.

The records of the other jobs (``corrupt``, ``fractals build``) are made again by the job itself, rebuilt
from its run record: its own ``render`` and ``encode`` on the record's input, as a worker ran them.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from ..disk.folder import SafeFolder
from ..engine.copies import ConfigResolver, augment_copy
from ..engine.methods import apply_plan
from ..errors import UsageError
from ..formats.records import RunRecord
from ..mixsets.mixing_set import MixingSet, MixingSetError, cover_size
from ..readers import INPUT_FORMATS, Source, open_reader
from ..readers.folder import FolderReader
from ..runner.layout import layouts_in
from ..runner.ledger import read_json
from ..seeding import generator_for
from .augment import prepare_pixels
from .augment_options import AugmentOptions
from .registry import job_of_record


class ReplayError(UsageError):
    """A record that cannot be replayed (its input, mixing set or run record is gone or changed)."""


def _reader(root: Path, recorded: dict | None, labels: str = "auto"):
    """The reader the run used: a folder's, or a shard format's with the recorded options (checked: the run
    record is read back from OUT, so a tampered one is a ReplayError, not a crash)."""
    if not recorded:
        try:
            return FolderReader(root, labels=labels)
        except UsageError as error:
            raise ReplayError(str(error)) from None
    fields = {field.name for field in dataclasses.fields(Source)}
    if not isinstance(recorded, dict) or not set(recorded) <= fields or recorded.get("format") not in INPUT_FORMATS:
        raise ReplayError("the run record's input settings are not ones ipmix writes")
    return open_reader(root, Source(**recorded))


class Replayer:
    """Replays records of the run in ``out``. ``in_folder`` and ``mixing_set`` override where the run record
    says its inputs and mixing pictures are (e.g. after moving them)."""

    def __init__(self, out: str | Path, in_folder: str | Path | None = None, mixing_set: str | Path | None = None):
        folder = SafeFolder(out)
        record = None
        for layout in layouts_in(folder, "ipmix_run"):  # the whole run's record first, else a shard's
            record = read_json(folder, layout.run_record)
            if record is not None:
                break
        if record is None or not isinstance(record.get("identity"), dict):
            raise ReplayError(f"{out} holds no readable ipmix run record (ipmix_run.json)")
        try:
            self.options = AugmentOptions.from_record(record)
        except (AttributeError, TypeError, KeyError, ValueError) as error:
            raise ReplayError(f"{out}'s run record holds settings ipmix never writes ({error})") from None
        source = in_folder or self.options.in_folder
        if not source or not Path(source).is_dir():
            raise ReplayError(f"the run's inputs ({source or 'unknown'}) are not there; pass the folder with --in")
        self.reader = _reader(Path(source), (record.get("identity") or {}).get("input"), self.options.labels)
        self._items = _ItemFinder(self.reader)
        self.configs = ConfigResolver(self.options.preset, self.options.method, **self.options.overrides)
        self.mixing = self._mixing_set(record, mixing_set) if self.configs.needs_mixing else None

    def _mixing_set(self, record: dict, override) -> MixingSet | None:
        label = (record.get("mixing_set") or {}).get("source")
        try:
            if override is not None:
                mixing = MixingSet.from_folder(override)
            elif label == "builtin":
                from .builtin_set import ensure_builtin

                mixing = MixingSet.from_folder(ensure_builtin(False))
            else:
                mixing = MixingSet.from_folder(self.options.mixing_folder)
        except (MixingSetError, OSError) as error:
            raise ReplayError(f"the run's mixing set cannot be loaded ({error}); pass it with --mixing-set") from None
        if self.options.mixing_fingerprint and mixing.fingerprint != self.options.mixing_fingerprint:
            raise ReplayError("the mixing set's pictures differ from the run's (its fingerprint changed)")
        return mixing

    def input_pixels(self, source: str) -> np.ndarray:
        """The input ``source`` read and pre-processed as the run read it."""
        item = self._items.find(source)
        for _, opened in self.reader.inputs([item]):
            with opened as stream:
                return prepare_pixels(stream, self.options)
        raise ReplayError(f"{source} cannot be read")

    def pixels(self, record: dict) -> np.ndarray:
        """The pixels of the output a manifest record describes; a record that cannot be replayed (missing,
        tampered, its input gone) is a :class:`ReplayError` saying why."""
        try:
            return self._pixels(record)
        except ReplayError:
            raise
        except Exception as error:  # noqa: BLE001 - a tampered field, a refused input path, a damaged picture…
            raise ReplayError(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__) from None

    def _pixels(self, record: dict) -> np.ndarray:
        pixels = self.input_pixels(record["source"])
        copy = record.get("copy")
        if copy is None:
            return pixels
        height, width = pixels.shape[:2]
        if record.get("trace"):
            trace = json.loads(record["trace"])
            window = None
            if trace.get("mixing_picture") is not None:
                if self.mixing is None:
                    raise ReplayError("the trace names a mixing picture but the run's method uses none")
                name, size = trace["mixing_picture"], trace["mixing_size"]
                if name not in self.mixing.names:
                    raise ReplayError(f"the trace's mixing picture {name!r} is not in the run's mixing set")
                ratio = self.configs(height, width).cover_ratio
                expected = cover_size(*self.mixing.picture_size(self.mixing.names.index(name)), height, width, ratio)
                if list(size) != list(expected):  # a tampered size could ask for any amount of memory
                    raise ReplayError(f"the trace's mixing_size {size} is not the cover size {list(expected)}")
                window = self.mixing.window(name, size, trace["mixing_crop"], height, width)
            return apply_plan(pixels, window, trace["plan"])
        generator = generator_for(self.options.seed, record["source"], copy)
        return augment_copy(pixels, self.mixing, generator, self.configs(height, width)).pixels

    def encoded(self, record: dict) -> bytes:
        """The output's bytes, encoded as the run encoded it (the format its file name's extension says)."""
        extension = record["file_name"].rpartition(".")[2].lower()
        image_format = {"jpg": "jpeg", "png": "png", "webp": "webp"}.get(extension)
        if image_format is None:
            raise ReplayError(f"{record['file_name']}: not an image name ipmix gives")
        hint = "jpeg" if image_format == "jpeg" else None
        encoder = self.options.encoder_for(hint) if self.options.image_format == "auto" else None
        if encoder is None or encoder.format != image_format:
            from ..imaging.images import Encoder

            encoder = Encoder(image_format, self.options.quality or 95)
        return encoder.encode(self.pixels(record))


def run_record_of(folder: SafeFolder):
    """The run record of OUT (a ``RunRecord``): the whole run's first, else a shard's; a mixing set's
    ``ipmix_fractals.json`` when there is no ``ipmix_run.json``."""
    for base in ("ipmix_run", "ipmix_fractals"):
        for layout in layouts_in(folder, base):
            record = RunRecord.from_json(read_json(folder, layout.run_record), None)
            if record is not None:
                return record
    raise ReplayError(f"{folder.path} holds no readable ipmix run record (ipmix_run.json)")


class JobReplayer:
    """Replays the records of a job's OUT with the job's own ``render`` and ``encode`` (see the module
    docstring); ``in_folder`` overrides where the run record says its inputs are."""

    def __init__(self, out: str | Path, in_folder: str | Path | None = None, record=None):
        folder = SafeFolder(out)
        record = record or run_record_of(folder)
        reader = None
        if record.job != "fractals":
            source = in_folder or record.identity.get("in")
            if not isinstance(source, (str, Path)) or not source or not Path(source).is_dir():
                raise ReplayError(f"the run's inputs ({source or 'unknown'}) are not there; pass the folder with --in")
            labels = record.identity.get("labels", "auto")
            reader = _reader(Path(source), record.identity.get("input"), labels if isinstance(labels, str) else "auto")
        try:
            self.job = job_of_record(record, reader)
        except UsageError as error:
            raise ReplayError(f"{out}: {error}") from None
        self.items = _ItemFinder(self.job.reader)
        self.job.warm()

    def encoded(self, record: dict) -> bytes:
        """The bytes of the output ``record`` describes, made again; :class:`ReplayError` when they cannot be."""
        try:
            return self._encoded(record)
        except ReplayError:
            raise
        except Exception as error:  # noqa: BLE001 - a tampered field, a refused input path, a damaged picture…
            raise ReplayError(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__) from None

    def _encoded(self, record: dict) -> bytes:
        job = self.job
        item = self.items.find(job.key_of(record))
        order = job.record_order(record)
        outputs = [output for output in job.outputs(item) if output.order == order]
        if not outputs:
            raise ReplayError("the record names an output its run's settings do not make")
        for _, opened in job.reader.inputs([item]):
            with opened as stream:
                readable = io.BytesIO(stream.read()) if stream is not None else None
                for render in job.render(item, readable, outputs):
                    return job.encode(item, render).data
        raise ReplayError(f"{item.key} cannot be read")


class _ItemFinder:
    """The work item of an input key: a folder's and a picture's from the key itself, a shard sample's from
    one listing of IN made when first needed."""

    def __init__(self, reader):
        self.reader = reader
        self._numbers: dict | None = None

    def find(self, key: str):
        if isinstance(self.reader, FolderReader):
            from ..readers.folder import folder_item

            return folder_item(key, mode=self.reader.labels)
        if hasattr(self.reader, "find"):
            return self.reader.find(key)
        if self._numbers is None:
            self._inputs = self.reader.plan().inputs
            self._numbers = {self._inputs.key(number): number for number in range(len(self._inputs))}
        if key not in self._numbers:
            raise ReplayError(f"{key} is not among the samples of the run's inputs")
        return self._inputs[self._numbers[key]]


def replay_record(out: str | Path, record: dict) -> np.ndarray:
    """The pixels of one record of ``out``'s manifest, re-created (see :class:`Replayer`)."""
    return Replayer(out).pixels(record)


def replay_sample(
    out: Path, records: list[dict], count: int, seed: int, report, in_folder=None, mixing_set=None
) -> None:
    """Re-create ``count`` sampled records of ``records`` and compare their bytes (``ipmix verify --replay``);
    findings go to ``report``."""
    import hashlib

    from ..items import printable

    if not records:
        return
    chosen = np.random.default_rng(seed).choice(len(records), size=min(count, len(records)), replace=False)
    try:
        run = run_record_of(SafeFolder(out))
        if run.job == "augment":
            replayer = Replayer(out, in_folder, mixing_set)
        else:
            replayer = JobReplayer(out, in_folder, run)
    except ReplayError as error:
        report.problems.append(f"replay: {error}")
        return
    for index in sorted(int(i) for i in chosen):
        record = records[index]
        where = record["file_name"] if "shard" not in record else f"{record['shard']}/{record['file_name']}"
        try:
            digest = hashlib.sha256(replayer.encoded(record)).hexdigest()
        except Exception as error:  # noqa: BLE001 - any failure to replay is a finding, reported per record
            report.problems.append(f"{printable(where)}: cannot be replayed: {error}")
            continue
        report.replayed += 1
        if digest != record["sha256"]:
            how = "its trace" if record.get("trace") else "its seed"
            report.problems.append(f"{printable(where)}: replaying {how} gives other bytes than the manifest's")
