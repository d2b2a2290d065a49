"""``ipmix corrupt``: a corruption-robustness test set (CIFAR-10-C / ImageNet-C style) of IN, as a job on the
engine: every input once per (corruption, severity), with the corruptions of ``ipmix_cli.corruptions``.

Outputs mirror ImageNet-C's layout, ``OUT/<corruption>/<severity>/<input's relative path>`` (so
``ImageFolder(OUT/fog/3)`` and ``datasets.load_dataset("imagefolder", data_dir=OUT/fog/3)`` load one
corruption at one severity with the input's classes), or shards for the shard formats. Each output's generator
comes from (seed, input key, corruption, severity): it depends on nothing else, so adding corruptions or
severities to an OUT adds outputs and changes none.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterator

from .. import __version__
from ..corruptions import ALL, corrupt_with_trace, corruption_generator, find_frost_pictures, layer_pixels
from ..corruptions.params import resolve_preset
from ..imaging.colour import WHITE
from ..imaging.images import Encoder, check_pixels
from ..items import Item
from ..runner.job import Made, Output, Render
from ..writers import is_sharded
from .augment import prepare_pixels
from .augment_options import AUTO_JPEG_QUALITY
from .image_job import ImageJob

#: The manifest's columns in a Parquet table, in order (then ``trace`` and ``meta``).
COLUMNS = (
    ("file_name", "string"),
    ("shard", "string"),
    ("source", "string"),
    ("label", "int64"),
    ("corruption", "string"),
    ("severity", "int64"),
    ("seed", "uint64"),
    ("width", "int64"),
    ("height", "int64"),
    ("sha256", "string"),
)
_NAME = re.compile(r"^(?P<corruption>[a-z_]+)/(?P<severity>[1-5])/.+\.(png|jpg|webp)$")


@dataclass(frozen=True)
class CorruptOptions:
    """Everything that decides the bytes of ``corrupt``'s outputs (and which outputs there are)."""

    seed: int | None
    corruptions: tuple[str, ...] = ()
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    preset: str = "auto"
    frost_folder: str = ""  # the frost pictures' folder (when frost is among the corruptions)
    frost_fingerprint: str = ""
    image_format: str = "auto"
    quality: int | None = None
    background: tuple[int, int, int] = WHITE
    resize: int | None = None
    crop: tuple[int, int] | None = None
    trace: bool = False
    writer: str = "files"
    samples_per_shard: int = 1000
    in_folder: str = ""
    input: dict = field(default_factory=dict)
    labels: str = "auto"
    classes: tuple | None = None

    @property
    def pairs(self) -> list[tuple[str, int]]:
        """(corruption, severity) of every output of an input, in the manifest's order."""
        return [(name, severity) for name in self.corruptions for severity in self.severities]

    @property
    def outputs_per_input(self) -> int:
        return len(self.corruptions) * len(self.severities)

    def encoder_for(self, hint: str | None) -> Encoder:
        """As ``augment``'s ``--format auto``: JPEG (quality 95) for JPEG inputs and in shards, else PNG."""
        if self.image_format == "auto":
            if hint == "jpeg" or is_sharded(self.writer):
                return Encoder("jpeg", self.quality or AUTO_JPEG_QUALITY)
            return Encoder("png")
        return Encoder(self.image_format, self.quality or 95)

    def identity(self) -> dict:
        """What a resumed or extended run must share: not the corruptions and severities for the files format
        (adding some adds outputs), but for shards (they decide which inputs share a shard)."""
        identity = {
            "ipmix_version": __version__,
            "in": self.in_folder,
            "seed": self.seed,
            "preset": self.preset,
            "frost": self.frost_fingerprint or None,
            "format": self.image_format,
            "quality": None if self.image_format == "png" else (self.quality or 95),
            "background": list(self.background),
            "resize": self.resize,
            "crop": list(self.crop) if self.crop else None,
            "trace": self.trace,
            "output_format": self.writer,
        }
        if self.input:
            identity["input"] = dict(sorted(self.input.items()))
        if self.labels != "auto":
            identity["labels"] = self.labels
        if is_sharded(self.writer):
            identity["samples_per_shard"] = self.samples_per_shard
            identity["corruptions"] = list(self.corruptions)
            identity["severities"] = list(self.severities)
        return identity


class CorruptJob(ImageJob):
    """See the module docstring."""

    name = "corrupt"
    verb = "corrupting"
    COLUMNS = COLUMNS

    def settle(self, previous) -> CorruptJob:
        changes = self.settled_seed(previous)
        return self._with(**changes) if changes else self

    def shrinking(self, previous) -> str | None:
        """A run naming fewer corruptions or severities than OUT holds would leave those outputs behind."""
        if is_sharded(self.options.writer):
            return None
        recorded = {
            (c, s) for c in previous.extra.get("corruptions") or [] for s in previous.extra.get("severities") or []
        }
        left = sorted(recorded - set(self.options.pairs))
        if not left:
            return None
        shown = ", ".join(f"{c} {s}" for c, s in left[:6]) + (" …" if len(left) > 6 else "")
        return (
            f"holds outputs this run does not name ({shown}), which would stay listed in the manifest; name them "
            "again (--corruptions, --severities), or pass --overwrite to remove them"
        )

    def keeps(self, record: dict) -> bool:
        return (record.get("corruption"), record.get("severity")) in set(self.options.pairs)

    def has_splits(self) -> bool:
        """No split manifests: a split's outputs lie in ``<corruption>/<severity>/<split>/``, under the folder
        that is loaded (as ImageNet-C's are), where the folder names say the splits and classes."""
        return False

    def run_fields(self, status: str = "running") -> dict:
        options = self.options
        return {
            "corruptions": list(options.corruptions),
            "severities": list(options.severities),
            "in": options.in_folder,
            **self.labels_fields(),
            "frost_pictures": {"folder": options.frost_folder, "fingerprint": options.frost_fingerprint}
            if options.frost_folder
            else None,
        }

    def outputs(self, item: Item) -> list[Output]:
        extension = self.options.encoder_for(item.hint).extension
        return [
            Output(order, f"{name}/{severity}/{item.stem}{extension}", f"{name}-{severity}")
            for order, (name, severity) in enumerate(self.options.pairs)
        ]

    def owns(self, name: str) -> bool:
        match = _NAME.match(name)
        if match:
            return match.group("corruption") in ALL
        from .augment_options import looks_like_output

        return "/" not in name and looks_like_output(name)  # a shard

    def record_order(self, record: dict):
        pair = (record.get("corruption"), record.get("severity"))
        pairs = self.options.pairs
        return pairs.index(pair) if pair in pairs else len(pairs)

    # --- the workers -----------------------------------------------------------------------------------

    def render(self, item: Item, stream, outputs: list[Output]) -> Iterator[Render]:
        self.refuse_reserved(item, outputs, base=2)
        options = self.options
        pixels = prepare_pixels(stream, options)
        height, width = pixels.shape[:2]
        options.encoder_for(item.hint).check(width, height)
        preset = resolve_preset(options.preset, height, width)
        frost = find_frost_pictures(options.frost_folder) if options.frost_folder else None
        pairs = options.pairs
        for output in outputs:
            name, severity = pairs[output.order]
            largest = layer_pixels(name, severity, preset, height, width)
            check_pixels(largest, 1, f"{name} at severity {severity} would make a layer of")
            rng = corruption_generator(options.seed, item.key, name, severity)
            made, trace = corrupt_with_trace(pixels, name, severity, rng, preset, frost)
            yield Render(output, made, fields={"corruption": name, "severity": severity, "trace": trace})

    def encode(self, item: Item, render: Render) -> Made:
        encoder = self.options.encoder_for(item.hint)
        data = encoder.encode(render.pixels)
        height, width = render.pixels.shape[:2]
        record = self.record_head(item)
        record.update(
            {
                "corruption": render.fields["corruption"],
                "severity": render.fields["severity"],
                "seed": self.options.seed,
                "width": width,
                "height": height,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        return Made(render.output, data, encoder.extension, self.record_tail(record, item, render.fields["trace"]))


def job_of_record(record, reader=None) -> CorruptJob:
    """The job that wrote a run record (a ``formats.records.RunRecord``), with ``reader`` reading its inputs
    (None for merging, which reads none). Every field is read back from OUT: a tampered one is a ``TypeError``,
    ``KeyError`` or ``ValueError`` here."""
    identity, extra = record.identity, record.extra
    frost = extra.get("frost_pictures") if isinstance(extra.get("frost_pictures"), dict) else {}
    crop = identity.get("crop")
    options = CorruptOptions(
        seed=identity.get("seed"),
        corruptions=tuple(str(name) for name in extra.get("corruptions") or ()),
        severities=tuple(int(severity) for severity in extra.get("severities") or ()),
        preset=str(identity.get("preset", "auto")),
        frost_folder=str(frost.get("folder") or ""),
        frost_fingerprint=str(frost.get("fingerprint") or ""),
        image_format=str(identity.get("format", "auto")),
        quality=identity.get("quality") if isinstance(identity.get("quality"), int) else None,
        background=tuple(int(value) for value in identity.get("background") or WHITE),
        resize=identity.get("resize") if isinstance(identity.get("resize"), int) else None,
        crop=(int(crop[0]), int(crop[1])) if isinstance(crop, list) and len(crop) == 2 else None,
        trace=bool(identity.get("trace")),
        writer=str(identity.get("output_format", "files")),
        samples_per_shard=int(identity.get("samples_per_shard") or 1000),
        in_folder=str(identity.get("in") or ""),
        input=dict(identity["input"]) if isinstance(identity.get("input"), dict) else {},
        labels=str(identity.get("labels", "auto")),
        classes=tuple(extra["classes"]) if isinstance(extra.get("classes"), list) else None,
    )
    if not set(options.corruptions) <= set(ALL) or not set(options.severities) <= {1, 2, 3, 4, 5}:
        raise ValueError("the run record names corruptions or severities ipmix does not have")
    splits = extra.get("splits") if isinstance(extra.get("splits"), list) else []
    return CorruptJob(reader, options, [], tuple(str(split) for split in splits))


def corrupt_options(root, settings: dict, say=None) -> CorruptOptions:
    """The options of ``ipmix corrupt`` from its command line, checked; the frost pictures found (or, with
    ``skip_missing``, frost left out, said through ``say``)."""
    import os

    from ..corruptions import FrostUnavailable, parse_severities, select
    from ..errors import UsageError
    from ..items import path_text

    corruptions = select(settings.get("corruptions") or "common")
    severities = parse_severities(settings.get("severities") or "1-5")
    frost_folder, frost_fingerprint = "", ""
    if "frost" in corruptions:
        try:
            pictures = find_frost_pictures(settings.get("frost_pictures"))
            pictures.check()
            frost_folder, frost_fingerprint = str(pictures.folder), pictures.fingerprint()
        except FrostUnavailable as error:
            if not settings.get("skip_missing"):
                raise UsageError(f"{error} (or pass --skip-missing to leave frost out)") from None
            corruptions = tuple(name for name in corruptions if name != "frost")
            if say is not None:
                say("frost left out (--skip-missing): its pictures are not installed")
            if not corruptions:
                raise UsageError("no corruption left to make once frost is left out") from None
    writer = settings.get("writer") or "files"
    if is_sharded(writer) and (settings.get("seed") or 0) >= 2**64:
        raise UsageError(f"--output-format {writer} stores seeds as 64-bit numbers; give a --seed below 2**64")
    image_format = settings.get("image_format") or "auto"
    if settings.get("quality") is not None and image_format == "png":
        raise UsageError("--quality applies to --format jpeg, webp or auto (its JPEG outputs); PNG is lossless")
    return CorruptOptions(
        seed=settings.get("seed"),
        corruptions=corruptions,
        severities=severities,
        preset=settings.get("preset") or "auto",
        frost_folder=frost_folder,
        frost_fingerprint=frost_fingerprint,
        image_format=image_format,
        quality=settings.get("quality"),
        background=tuple(settings.get("background") or WHITE),
        resize=settings.get("resize"),
        crop=settings.get("crop"),
        trace=bool(settings.get("trace")),
        writer=writer,
        samples_per_shard=settings.get("samples_per_shard") or 1000,
        in_folder=path_text(os.path.realpath(root)),
        input=dict(settings.get("input") or {}),
        labels=settings.get("labels") or "auto",
    )
