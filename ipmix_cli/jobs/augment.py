"""``ipmix augment``: K augmented copies of every input, as a job on the engine (``runner``).

The reader finds the inputs; each input's outputs are its K copies (``<stem>_ipmix<j>.<ext>``) and, with
``--keep-original``, the clean image; a copy is ``engine.copies.augment_copy`` with the generator of
(seed, input key, copy) (SPEC §2), so its bytes depend on nothing else. Records are the manifest's lines
(SPEC §4 "Manifest").
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Iterator

import numpy as np

from ..engine.copies import ConfigResolver, augment_copy
from ..errors import RunFault
from ..imaging.images import MIN_SIDE, UnreadableImage, centre_crop, decode_rgb, resize_shorter
from ..items import Item
from ..mixsets.mixing_set import MixingSet, MixingSetError
from ..runner.job import Made, Output, Render
from ..seeding import generator_for
from ..writers import is_sharded
from .augment_options import COPY_TAG, AugmentOptions, differences, looks_like_output, output_names
from .image_job import ImageJob, find_collisions  # noqa: F401 (find_collisions: part of the API of this job)

#: The manifest's columns in a Parquet table (shards and WebDataset's ``metadata.parquet``), in order.
COLUMNS = (
    ("file_name", "string"),
    ("shard", "string"),
    ("source", "string"),
    ("label", "int64"),
    ("copy", "int64"),
    ("seed", "uint64"),
    ("mixing_picture", "string"),
    ("width", "int64"),
    ("height", "int64"),
    ("sha256", "string"),
)


class AugmentJob(ImageJob):
    """See the module docstring. ``reader`` finds and opens the inputs; ``options`` decide every byte."""

    name = "augment"
    verb = "augmenting"
    COLUMNS = COLUMNS

    def settle(self, previous) -> AugmentJob:
        """The seed (when none was given) and the width of copy numbers that OUT's earlier run recorded."""
        changes = self.settled_seed(previous)
        digits = previous.extra.get("copy_digits") if previous else None
        if isinstance(digits, int) and 1 <= digits <= 20:
            changes["copy_digits"] = digits
        return self._with(**changes) if changes else self

    def comparable(self, record, sibling: bool) -> tuple[dict, dict]:
        """The identities compared to decide whether this run continues ``record``'s: K is left out for the
        files format (raising it adds copies), but a sibling job shard must make as many."""
        old, new = dict(record.identity), dict(self.identity())
        if sibling or ("k" in old) != ("k" in new):
            old["k"], new["k"] = record.extra.get("k"), self.options.k
        return old, new

    def differences(self, old: dict, new: dict) -> list[str]:
        lines = differences(old, new)
        if old.get("k") != new.get("k") and new.get("output_format", "files") != "files":
            lines.append(
                "(K of shard outputs is fixed: it decides which inputs share a shard; put more copies in another OUT)"
            )
        return lines

    def shrinking(self, previous) -> str | None:
        recorded = previous.extra.get("k")
        k = self.options.k
        if not isinstance(recorded, int) or k >= recorded or is_sharded(self.options.writer):
            return None
        copies = f"copy {k}" if recorded - k == 1 else f"copies {k}–{recorded - 1}"
        return (
            f"holds {recorded} copies per input; --k {k} would leave {copies} of every input behind, still listed "
            f"in the manifest. Use --k {recorded} (or more), or pass --overwrite to start over with fewer copies"
        )

    def keeps(self, record: dict) -> bool:
        copy = record.get("copy")
        return self.options.keep_original if copy is None else isinstance(copy, int) and copy < self.options.k

    def run_fields(self, status: str = "running") -> dict:
        options = self.options
        return {
            "k": options.k,
            "copy_digits": options.digits,
            "in": options.in_folder,
            **self.labels_fields(),
            "mixing_set": {
                "source": options.mixing_label,
                "folder": options.mixing_folder,
                "fingerprint": options.mixing_fingerprint,
            },
        }

    def outputs(self, item: Item) -> list[Output]:
        digits = self.options.digits
        return [
            Output(-1, name, "original") if copy is None else Output(copy, name, f"ipmix{copy:0{digits}d}")
            for copy, name in output_names(item, self.options)
        ]

    def owns(self, name: str) -> bool:
        return looks_like_output(name)

    def record_order(self, record: dict):
        copy = record.get("copy")
        return -1 if copy is None else copy

    # --- the workers -----------------------------------------------------------------------------------

    def warm(self) -> None:
        super().warm()
        try:
            if resolver_for(self.options).needs_mixing:
                mixing_set_for(self.options)
        except Exception:  # noqa: BLE001 - any fault is left for the first task to report
            pass

    def render(self, item: Item, stream, outputs: list[Output]) -> Iterator[Render]:
        self.refuse_reserved(item, outputs)
        options = self.options
        configs = resolver_for(options)
        try:
            mixing = mixing_set_for(options) if configs.needs_mixing else None
        except MixingSetError as error:
            raise RunFault(f"cannot start: {error}") from None
        pixels = prepare_pixels(stream, options)
        options.encoder_for(item.hint).check(pixels.shape[1], pixels.shape[0])  # before K copies are made for nothing
        config = configs(*pixels.shape[:2])
        for output in outputs:
            if output.order == -1:
                yield Render(output, pixels, fields={"mixing_picture": None, "trace": None})
                continue
            copy = output.order
            try:
                made = augment_copy(pixels, mixing, generator_for(options.seed, item.key, copy), config)
            except MixingSetError as error:
                raise UnreadableImage(f"a mixing picture could not be used: {error}") from None
            yield Render(output, made.pixels, fields={"mixing_picture": made.mixing_picture, "trace": made.trace()})

    def encode(self, item: Item, render: Render) -> Made:
        encoder = self.options.encoder_for(item.hint)
        data = encoder.encode(render.pixels)
        height, width = render.pixels.shape[:2]
        output = render.output
        record = self.record_head(item)
        record.update(
            {
                "copy": None if output.order == -1 else output.order,
                "seed": self.options.seed,
                "mixing_picture": render.fields.get("mixing_picture"),
                "width": width,
                "height": height,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        return Made(output, data, encoder.extension, self.record_tail(record, item, render.fields.get("trace")))


def job_of_record(record, reader=None) -> AugmentJob:
    """The job that wrote a run record (a ``formats.records.RunRecord``): its options, class list and splits,
    with ``reader`` reading its inputs (None for merging, which reads none)."""
    options = AugmentOptions.from_record(record.to_json())
    classes = record.extra.get("classes")
    if is_sharded(options.writer) and isinstance(classes, list):
        options = dataclasses.replace(options, classes=tuple(classes))
    labels = classes if isinstance(classes, list) else []
    splits = record.extra.get("splits") if isinstance(record.extra.get("splits"), list) else []
    return AugmentJob(reader, options, labels, tuple(str(split) for split in splits))


# --- per-process state of the workers ----------------------------------------------------------------------

_MIXING_SETS: dict[str, MixingSet] = {}  # per worker process: each set is loaded once, not per task
_RESOLVERS: dict[str, ConfigResolver] = {}


def remember_mixing_set(folder: str, mixing: MixingSet) -> None:
    """Use ``mixing`` in this process as the set of ``folder`` (a built-in set made in memory by a dry run,
    whose folder does not exist)."""
    _MIXING_SETS.clear()
    _MIXING_SETS[f"{folder}\0{mixing.fingerprint}"] = mixing


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


def resolver_for(options: AugmentOptions) -> ConfigResolver:
    key = repr((options.preset, options.method, sorted(options.overrides.items())))
    if key not in _RESOLVERS:
        _RESOLVERS[key] = ConfigResolver(options.preset, options.method, **options.overrides)
    return _RESOLVERS[key]


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


def render_outputs(pixels: np.ndarray, item: Item, options: AugmentOptions, mixing, configs, copies=None):
    """(copy, file name, pixels) of the outputs ``copies`` (default: all) of one prepared input, in order: what
    ``augment`` writes and ``preview`` shows."""
    config = configs(*pixels.shape[:2])
    for copy, file_name in output_names(item, options):
        if copies is not None and copy not in copies:
            continue
        if copy is None:
            yield copy, file_name, pixels
            continue
        made = augment_copy(pixels, mixing, generator_for(options.seed, item.key, copy), config)
        yield copy, file_name, made.pixels


__all__ = ["COPY_TAG", "AugmentJob", "prepare_pixels", "render_outputs"]
