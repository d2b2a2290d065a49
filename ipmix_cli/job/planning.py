"""Turning the command line into work: the list of inputs and the resolved options."""

from __future__ import annotations

import os
from pathlib import Path

from ..mixsets.builtin import ensure_builtin
from ..engine.config import ConfigError
from ..imaging.images import Encoder, discover
from ..job.manifest import RUN_RECORD_NAME, read_run_record
from ..mixsets.mixing_set import MixingSet, MixingSetError
from ..job.pipeline import AugmentError, AugmentOptions
from ..seeding import fresh_seed
from ..transform import ConfigResolver


def read_list(root: Path, stream) -> list[str]:
    """Inputs from a list, normalised, unique, sorted.

    An entry is relative to ``root`` (SPEC §4) or absolute. So that ``find in -name '*.jpg' | ipmix augment
    in/ out/ --files-from -`` works as written, a relative entry that names no file under ``root`` but
    names one from the working directory, inside ``root``, is taken from there. An entry that leads
    outside ``root``, lexically or through a symbolic link, is refused.
    """
    base = os.path.abspath(root)
    real_base = os.path.realpath(root)

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return path.startswith(base + os.sep) and (real == real_base or real.startswith(real_base + os.sep))

    sources = set()
    for number, line in enumerate(stream, 1):
        entry = line.rstrip("\r\n")
        if not entry.strip():
            continue
        joined = os.path.normpath(os.path.join(base, entry))
        if not os.path.exists(joined) and not os.path.isabs(entry):
            from_here = os.path.normpath(os.path.abspath(entry))
            if os.path.exists(from_here) and inside(from_here):
                joined = from_here
        if not inside(joined):
            raise AugmentError(
                f"--files-from line {number}: {entry!r} is outside IN ({root}); list only files under IN"
            )
        sources.add(Path(os.path.relpath(joined, base)).as_posix())
    return sorted(sources)


def plan_inputs(root: Path, files_from) -> list[str]:
    return read_list(root, files_from) if files_from is not None else discover(root)


def resolve_options(root: Path, out: Path, settings: dict, show_progress: bool) -> tuple[AugmentOptions, MixingSet]:
    """Validate the settings, load the mixing set (for its fingerprint) and settle the seed."""
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

    output_format = settings["output_format"]
    if settings.get("quality") is not None and output_format == "png":
        raise AugmentError("--quality applies to --format jpeg or webp; PNG is lossless")
    encoder = Encoder(output_format, settings.get("quality") or 95)

    folder = settings.get("mixing_set")
    try:
        mixing_folder = Path(folder) if folder else ensure_builtin(show_progress)
        mixing = MixingSet.from_folder(mixing_folder)
    except MixingSetError as error:
        raise AugmentError(f"--mixing-set: {error}") from error

    seed = settings.get("seed")
    if seed is None:
        previous = read_run_record(out / RUN_RECORD_NAME)
        seed = previous["identity"]["seed"] if previous and "identity" in previous else fresh_seed()
    options = AugmentOptions(
        seed=seed,
        k=settings["k"],
        preset=settings["preset"],
        overrides=overrides,
        mixing_folder=str(mixing_folder.resolve()),
        mixing_fingerprint=mixing.fingerprint,
        mixing_label=str(folder) if folder else "builtin",
        encoder=encoder,
        background=tuple(settings["background"]),
        resize=settings.get("resize"),
        crop=settings.get("crop"),
        keep_original=settings.get("keep_original", False),
        trace=settings.get("trace", False),
    )
    return options, mixing
