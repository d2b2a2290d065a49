"""What a run is: the options that decide the bytes of its outputs, and how its identity is compared.

Two runs into one OUT may share it (a resume, an extension with more copies, more inputs) only when their
identity is equal: everything that decides an output's bytes or name except ``k``, which only says how many
copies there are (raising it adds copies and changes none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import __version__
from ..engine.copies import ConfigResolver
from ..imaging.colour import WHITE
from ..imaging.images import Encoder
from ..writers import is_sharded

OUTPUT_FORMATS = ("auto", "png", "jpeg", "webp")
#: ``--format auto``: JPEG inputs give JPEG copies at this quality, every other input gives PNG.
AUTO_JPEG_QUALITY = 95


@dataclass(frozen=True)
class AugmentOptions:
    """Everything that decides the bytes of the outputs (and nothing that does not)."""

    seed: int | None
    k: int = 4
    preset: str = "auto"
    method: str = "ipmix"  # ipmix, augmix, pixmix (ipmix_cli.engine.methods)
    overrides: dict = field(default_factory=dict)
    mixing_folder: str = ""  # resolved folder of the mixing set (the built-in one's cache folder included)
    mixing_fingerprint: str = ""
    mixing_label: str | None = "builtin"  # None for a method without mixing pictures
    image_format: str = "png"  # auto, png, jpeg, webp
    quality: int | None = None
    background: tuple[int, int, int] = WHITE
    resize: int | None = None
    crop: tuple[int, int] | None = None  # (width, height)
    keep_original: bool = False
    trace: bool = False
    writer: str = "files"  # files, webdataset, parquet
    samples_per_shard: int = 1000
    in_folder: str = ""  # IN, resolved: an OUT made from another IN is another run
    copy_digits: int | None = None  # width of copy numbers in names; fixed by the run that created OUT
    input: dict = field(default_factory=dict)  # how IN is read, when not as a folder of images (readers.Source)
    classes: tuple[str, ...] | None = None  # sharded formats: the run's class list (labels.py), set after planning
    labels: str = "auto"  # how labels (and splits) come from IN's folders: auto, none, folder, split-folder

    @property
    def digits(self) -> int:
        return self.copy_digits or len(str(self.k - 1))

    def encoder_for(self, hint: str | None) -> Encoder:
        """The encoder of an input whose format is ``hint`` (``auto``: JPEG for JPEG inputs, else PNG; in shards
        JPEG for every input, since a shard holds one image type: Hugging Face's WebDataset loader keeps only
        the member types of a shard's first samples)."""
        if self.image_format == "auto":
            if hint == "jpeg" or is_sharded(self.writer):
                return Encoder("jpeg", self.quality or AUTO_JPEG_QUALITY)
            return Encoder("png")
        return Encoder(self.image_format, self.quality or 95)

    @property
    def outputs_per_input(self) -> int:
        return self.k + (1 if self.keep_original else 0)

    @classmethod
    def from_record(cls, record: dict) -> "AugmentOptions":
        """The options of the run that wrote a run record (``ipmix_run.json``), for replays and checks."""
        identity = record.get("identity") or {}
        overrides = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in (identity.get("overrides") or {}).items()
        }
        return cls(
            seed=identity.get("seed"),
            k=int(record.get("k") or 1),
            preset=identity.get("preset", "auto"),
            method=identity.get("method", "ipmix"),
            overrides=overrides,
            mixing_folder=str((record.get("mixing_set") or {}).get("folder") or ""),
            mixing_fingerprint=str((identity.get("mixing_set") or {}).get("fingerprint") or ""),
            mixing_label=str((record.get("mixing_set") or {}).get("source") or ""),
            image_format=identity.get("format", "png"),
            quality=identity.get("quality"),
            background=tuple(identity.get("background") or WHITE),
            resize=identity.get("resize"),
            crop=tuple(identity["crop"]) if identity.get("crop") else None,
            keep_original=bool(identity.get("keep_original")),
            trace=bool(identity.get("trace")),
            writer=identity.get("output_format", "files"),
            samples_per_shard=int(identity.get("samples_per_shard") or 1000),
            in_folder=str(identity.get("in") or ""),
            copy_digits=identity.get("copy_digits"),
            labels=identity.get("labels", "auto") if isinstance(identity.get("labels", "auto"), str) else "auto",
        )

    def identity(self) -> dict:
        """The settings a resumed or extended run must share with the one it continues."""
        resolver = ConfigResolver(self.preset, self.method, **self.overrides)
        identity = {
            "ipmix_version": __version__,
            "in": self.in_folder,
            "seed": self.seed,
            "method": self.method,
            "preset": self.preset,
            "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(self.overrides.items())},
            "resolved": {variant: config.to_dict() for variant, config in sorted(resolver.by_variant.items())},
            "mixing_set": {"fingerprint": self.mixing_fingerprint},  # the content, however its path is spelled
            "format": self.image_format,
            "quality": None if self.image_format == "png" else (self.quality or 95),
            "background": list(self.background),
            "resize": self.resize,
            "crop": list(self.crop) if self.crop else None,
            "keep_original": self.keep_original,
            "trace": self.trace,
            "output_format": self.writer,
            "copy_digits": self.digits,
        }
        if self.input:
            identity["input"] = dict(sorted(self.input.items()))
        if self.labels != "auto":
            identity["labels"] = self.labels
        if self.writer != "files":
            identity["samples_per_shard"] = self.samples_per_shard
            identity["k"] = self.k  # copies are interleaved in shards: another K is another set of shards
        return identity


_UNUSED = object()  # a setting one of the two runs does not have (e.g. samples_per_shard of a files run)


def differences(old: dict, new: dict) -> list[str]:
    """``name: old → new`` for every identity field that differs, for refusal messages."""

    def shown(value) -> str:
        if value is _UNUSED:
            return "(not used)"
        if isinstance(value, dict):
            text = ", ".join(f"{k}={v!r}" for k, v in value.items()) or "none"
        else:
            text = repr(value)
        return text if len(text) <= 80 else text[:77] + "…"

    lines = []
    for name in sorted(set(old) | set(new)):
        if name == "resolved":
            continue  # follows from preset and overrides, which are shown
        if old.get(name, _UNUSED) != new.get(name, _UNUSED):
            lines.append(f"{name}: {shown(old.get(name, _UNUSED))} → {shown(new.get(name, _UNUSED))}")
    if not lines and old.get("resolved") != new.get("resolved"):
        lines.append("the resolved engine settings (a different ipmix build?)")
    return lines


# --- output names ------------------------------------------------------------------------------------------

COPY_TAG = "_ipmix"
ORIGINAL_TAG = "_original"


def output_names(item, options: AugmentOptions) -> list[tuple[int | None, str]]:
    """(copy, file name relative to OUT) of every output of ``item``; copy None is the clean original.

    ``<stem>_ipmix<j>.<ext>`` and ``<stem>_original.<ext>``, where the stem mirrors the input's place in IN. Copy
    numbers are zero-padded to the width fixed by the run that created OUT (so raising ``--k`` from 4 to 12
    names the new copies ``_ipmix4`` … ``_ipmix11`` and renames nothing)."""
    extension = options.encoder_for(item.hint).extension
    digits = options.digits
    names: list[tuple[int | None, str]] = [
        (j, f"{item.stem}{COPY_TAG}{j:0{digits}d}{extension}") for j in range(options.k)
    ]
    if options.keep_original:
        names.insert(0, (None, f"{item.stem}{ORIGINAL_TAG}{extension}"))
    return names


def looks_like_output(name: str) -> bool:
    """Whether ``name`` has the shape of a name ``augment`` gives outputs (a check on names read back from files
    before anything is deleted: a tampered manifest cannot make ``--overwrite`` delete a user's file)."""
    base = name.rpartition("/")[2]
    stem, dot, extension = base.rpartition(".")
    if not dot or extension.lower() not in ("png", "jpg", "jpeg", "webp", "tar", "parquet"):
        return False
    if extension.lower() in ("tar", "parquet"):
        return "/" not in name and _shard_stem(stem)
    if stem.endswith(ORIGINAL_TAG):
        return True
    head, tag, number = stem.rpartition(COPY_TAG)
    return bool(tag) and number.isdigit()


def _shard_stem(stem: str) -> bool:
    """``00012`` or, for a split, ``train-00012``."""
    split, _, number = stem.rpartition("-")
    return number.isdigit() and (not split or split.replace("_", "").isalnum())
