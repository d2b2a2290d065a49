"""Turning ``augment``'s command line into a job: the reader of IN and the resolved options."""

from __future__ import annotations

import os
from pathlib import Path

from ..engine import methods
from ..engine.copies import ConfigResolver
from ..errors import UsageError
from ..items import path_text
from ..mixsets.mixing_set import MixingSet, MixingSetError
from ..readers import Source, detect, open_reader
from ..readers.folder import FolderReader, read_list
from ..writers import is_sharded
from .augment import remember_mixing_set
from .augment_options import AugmentOptions
from .builtin_set import builtin_folder, builtin_in_memory, builtin_problem, ensure_builtin

#: Input options and the input format they belong to (``readers.Source``); the value each has when not given.
SOURCE_OPTIONS = {
    "image_key": ("webdataset", None),
    "label_field": ("webdataset", None),
    "key_field": ("webdataset", None),
    "image_column": ("parquet", "image"),
    "label_column": ("parquet", None),
    "key_column": ("parquet", None),
}


def source_for(root: Path, settings: dict) -> Source:
    """How IN is read: ``--input-format`` (detected from IN's contents when ``auto``) and its options, checked."""
    chosen = settings.get("input_format") or "auto"
    input_format = detect(root) if chosen == "auto" else chosen
    values = {}
    for name, (owner, default) in SOURCE_OPTIONS.items():
        value = settings.get(name)
        if value is not None and value != default and owner != input_format:
            option = "--" + name.replace("_", "-")
            found = " (detected from IN's contents)" if chosen == "auto" else ""
            raise UsageError(f"{option} applies to --input-format {owner}; IN is read as {input_format}{found}")
        values[name] = default if value is None else value
    return Source(input_format, **values)


def reader_for(
    root: Path,
    files_from=None,
    null_separated: bool = False,
    source: Source | None = None,
    labels: str = "auto",
):
    """The reader of IN: a folder of images, the inputs a ``--files-from`` list names, or shards (``source``)."""
    if source is not None and source.format != "folder":
        if files_from is not None:
            raise UsageError(f"--files-from applies to folders of images; IN is read as {source.format}")
        if labels != "auto":
            raise UsageError(f"--labels applies to folders of images; IN is read as {source.format}")
        return open_reader(root, source)
    if files_from is None:
        return FolderReader(root, labels=labels)
    listed = read_list(root, files_from, null_separated)
    if not listed:
        raise UsageError("the --files-from list names no inputs (it is empty, or holds only blank lines)")
    return FolderReader(root, listed, labels=labels)


def engine_overrides(settings: dict) -> dict:
    """The engine settings the user gave (SPEC §1.6 overrides), validated against the method."""
    overrides = methods.engine_overrides(settings)
    ConfigResolver(settings["preset"], settings.get("method") or "ipmix", **overrides)
    return overrides


def resolve_options(
    root: Path, settings: dict, show_progress: bool, dry_run: bool = False
) -> tuple[AugmentOptions, MixingSet | None]:
    """Validate the settings and load the mixing set (for its fingerprint; None for a method that uses none).
    The seed stays None when the user gave none: the run settles it once it holds OUT (reusing a recorded one).
    A ``dry_run`` writes nothing, not even the built-in set's cache: without it, the set is made in memory."""
    overrides = engine_overrides(settings)
    method = settings.get("method") or "ipmix"
    image_format = settings.get("image_format") or "auto"
    writer = settings.get("writer") or "files"
    if is_sharded(writer) and (settings.get("seed") or 0) >= 2**64:
        raise UsageError(f"--output-format {writer} stores seeds as 64-bit numbers; give a --seed below 2**64")
    if settings.get("quality") is not None and image_format == "png":
        raise UsageError("--quality applies to --format jpeg, webp or auto (its JPEG copies); PNG is lossless")
    folder = settings.get("mixing_set")
    mixing, mixing_folder = None, None
    try:
        if methods.method_named(method).uses_mixing and not folder and dry_run:
            mixing_folder = builtin_folder()
            if builtin_problem(mixing_folder) is None:
                mixing = MixingSet.from_folder(mixing_folder)
            else:
                mixing = builtin_in_memory(show_progress)
                remember_mixing_set(str(mixing_folder.resolve()), mixing)
        elif methods.method_named(method).uses_mixing:
            mixing_folder = Path(folder) if folder else ensure_builtin(show_progress)
            mixing = MixingSet.from_folder(mixing_folder)
    except MixingSetError as error:
        raise MixingSetError(f"--mixing-set: {error}" if folder else str(error)) from None
    except OSError as error:
        raise UsageError(f"the built-in mixing set cannot be prepared: {error}") from None
    options = AugmentOptions(
        seed=settings.get("seed"),
        k=settings["k"],
        preset=settings["preset"],
        method=method,
        overrides=overrides,
        mixing_folder=str(mixing_folder.resolve()) if mixing else "",  # opened by workers: the real path
        mixing_fingerprint=mixing.fingerprint if mixing else "",
        mixing_label=(path_text(folder) if folder else "builtin") if mixing else None,
        image_format=image_format,
        quality=settings.get("quality"),
        background=tuple(settings["background"]),
        resize=settings.get("resize"),
        crop=settings.get("crop"),
        keep_original=settings.get("keep_original", False),
        trace=settings.get("trace", False),
        writer=writer,
        samples_per_shard=settings.get("samples_per_shard") or 1000,
        in_folder=path_text(os.path.realpath(root)),
        input=dict(settings.get("input") or {}),
        labels=settings.get("labels") or "auto",
    )
    return options, mixing
