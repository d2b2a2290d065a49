"""Turning the command line into work: the reader of IN and the resolved options."""

from __future__ import annotations

import os
from pathlib import Path

from ..engine.config import ConfigError
from ..mixsets.builtin import ensure_builtin
from ..mixsets.mixing_set import MixingSet, MixingSetError
from ..transform import ConfigResolver
from .driver import AugmentError
from .options import AugmentOptions
from .readers.folder import FolderReader, ListError, read_list


def reader_for(root: Path, files_from: bytes | None = None, null_separated: bool = False) -> FolderReader:
    """The reader of IN: a folder of images, or the inputs a ``--files-from`` list names."""
    if files_from is None:
        return FolderReader(root)
    try:
        listed = read_list(root, files_from, null_separated)
    except ListError as error:
        raise AugmentError(str(error)) from None
    if not listed:
        raise AugmentError("the --files-from list names no inputs (it is empty, or holds only blank lines)")
    return FolderReader(root, listed)


def engine_overrides(settings: dict) -> dict:
    """The engine settings the user gave (SPEC §1.6 overrides), validated."""
    overrides = {}
    for name in ("chains", "depth", "beta", "severity", "overflow"):
        if settings.get(name) is not None:
            overrides[name] = settings[name]
    if settings.get("all_ops") and settings.get("ops"):
        raise AugmentError("--ops and --all-ops contradict each other; give one")
    if settings.get("all_ops"):
        from ..engine.ops import ALL_OPS

        overrides["ops"] = ALL_OPS
    elif settings.get("ops"):
        overrides["ops"] = settings["ops"]
    if settings.get("patch_sizes"):
        overrides["patch_sizes"] = settings["patch_sizes"]
        overrides["reference_side"] = None
    try:
        ConfigResolver(settings["preset"], **overrides)
    except ConfigError as error:
        raise AugmentError(str(error)) from error
    return overrides


def resolve_options(root: Path, settings: dict, show_progress: bool) -> tuple[AugmentOptions, MixingSet]:
    """Validate the settings and load the mixing set (for its fingerprint). The seed stays None when the
    user gave none: the run settles it once it holds OUT (reusing a recorded one)."""
    overrides = engine_overrides(settings)
    image_format = settings.get("image_format") or "auto"
    if settings.get("quality") is not None and image_format == "png":
        raise AugmentError("--quality applies to --format jpeg, webp or auto (its JPEG copies); PNG is lossless")
    folder = settings.get("mixing_set")
    try:
        mixing_folder = Path(folder) if folder else ensure_builtin(show_progress)
        mixing = MixingSet.from_folder(mixing_folder)
    except MixingSetError as error:
        raise AugmentError(f"--mixing-set: {error}" if folder else str(error)) from error
    except OSError as error:
        raise AugmentError(f"the built-in mixing set cannot be prepared: {error}") from error
    options = AugmentOptions(
        seed=settings.get("seed"),
        k=settings["k"],
        preset=settings["preset"],
        overrides=overrides,
        mixing_folder=str(mixing_folder.resolve()),
        mixing_fingerprint=mixing.fingerprint,
        mixing_label=str(folder) if folder else "builtin",
        image_format=image_format,
        quality=settings.get("quality"),
        background=tuple(settings["background"]),
        resize=settings.get("resize"),
        crop=settings.get("crop"),
        keep_original=settings.get("keep_original", False),
        trace=settings.get("trace", False),
        writer=settings.get("writer") or "files",
        samples_per_shard=settings.get("samples_per_shard") or 1000,
        in_folder=os.path.realpath(root),
    )
    return options, mixing
