"""Turning the command line into work: the reader of IN and the resolved options."""

from __future__ import annotations

import os
from pathlib import Path

from ..engine import methods
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
    """The engine settings the user gave (SPEC §1.6 overrides), validated against the method."""
    try:
        overrides = methods.engine_overrides(settings)
        ConfigResolver(settings["preset"], settings.get("method") or "ipmix", **overrides)
    except ConfigError as error:
        raise AugmentError(str(error)) from error
    return overrides


def resolve_options(root: Path, settings: dict, show_progress: bool) -> tuple[AugmentOptions, MixingSet | None]:
    """Validate the settings and load the mixing set (for its fingerprint; None for a method that uses none).
    The seed stays None when the user gave none: the run settles it once it holds OUT (reusing a recorded one)."""
    overrides = engine_overrides(settings)
    method = settings.get("method") or "ipmix"
    image_format = settings.get("image_format") or "auto"
    if settings.get("quality") is not None and image_format == "png":
        raise AugmentError("--quality applies to --format jpeg, webp or auto (its JPEG copies); PNG is lossless")
    folder = settings.get("mixing_set")
    mixing, mixing_folder = None, None
    try:
        if methods.method_named(method).uses_mixing:
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
        method=method,
        overrides=overrides,
        mixing_folder=str(mixing_folder.resolve()) if mixing else "",
        mixing_fingerprint=mixing.fingerprint if mixing else "",
        mixing_label=(str(folder) if folder else "builtin") if mixing else None,
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
