"""Pictures of what ipmix does: contact sheets, a copy taken apart step by step, mixing-set grids.

Sheets go through ``jobs.augment.render_outputs``, the very function ``ipmix augment`` encodes and writes,
so every tile is, pixel for pixel, the PNG that ``augment`` would write for the same input path, seed and
options. The explanation replays the copy's plan with its method's explainer (``engine.methods``), which
runs the engine's own code, and shows the copy's real pixels as its final panel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .engine.copies import ConfigResolver, augment_copy
from .imaging.sheets import BACKGROUND, CAPTION, DIM, INK, PAD, Tile, _fit, _font, compose  # noqa: F401
from .items import name_bytes, path_text
from .jobs.augment import prepare_pixels, render_outputs
from .jobs.augment_options import AugmentOptions, output_names
from .mixsets.mixing_set import MixingSet
from .readers.folder import discover, folder_item
from .seeding import generator_for

# --- inputs ---------------------------------------------------------------------------------------


def preview_inputs(paths: list[Path], per_folder: int, root: Path | None) -> tuple[Path, list[str]]:
    """The root that input paths are relative to (their seeds depend on it) and the inputs, in order.

    A folder contributes its first ``per_folder`` images in sorted order. Without ``root``, a single
    folder argument is its own root (as ``ipmix augment FOLDER`` would see it), otherwise the deepest folder
    holding every argument.
    """
    paths = [p.resolve() for p in paths]
    if root is None:
        if len(paths) == 1 and paths[0].is_dir():
            root = paths[0]
        else:
            root = Path(_common_folder([p if p.is_dir() else p.parent for p in paths]))
    root = root.resolve()
    sources: list[str] = []
    for path in paths:
        if root != path and root not in path.parents:
            raise ValueError(f"{path} is not under --root {root}")
        if path.is_dir():
            found = _spread([item.key for item in discover(path).inputs], per_folder)
            if not found:
                raise ValueError(f"no images found under {path}")
            prefix = path_text(path.relative_to(root).as_posix()) if path != root else ""
            sources.extend(f"{prefix}/{name}" if prefix else name for name in found)
        else:
            sources.append(path_text(path.relative_to(root).as_posix()))
    return root, list(dict.fromkeys(sources))


def _spread(keys: list[str], count: int) -> list[str]:
    """``count`` of the sorted ``keys``, taken in turn from each first-level folder (each class shows), in
    sorted order within a folder."""
    by_folder: dict[str, list[str]] = {}
    for key in keys:
        by_folder.setdefault(key.split("/")[0] if "/" in key else "", []).append(key)
    chosen: list[str] = []
    queues = list(by_folder.values())
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen)


def _common_folder(folders: list[Path]) -> str:
    import os

    return os.path.commonpath([str(f) for f in folders])


def _prepared(root: Path, source: str, options: AugmentOptions) -> np.ndarray:
    """An input read and pre-processed exactly as ``augment`` reads it."""
    return read_input(root, source, lambda stream: prepare_pixels(stream, options))


def read_input(root: Path, source: str, prepare):
    """``prepare(stream)`` of the input ``source`` under ``root`` (opened by its name's bytes)."""
    from .imaging.images import UnreadableImage

    try:
        with open(os.path.join(os.fsencode(root), name_bytes(source)), "rb") as stream:
            return prepare(stream)
    except OSError as error:
        raise UnreadableImage(f"{source}: {error.strerror}") from None


# --- the contact sheet ------------------------------------------------------------------------------


def contact_sheet(root: Path, sources: list[str], options: AugmentOptions, mixing: MixingSet) -> Image.Image:
    """One row per input: the prepared original, then its K copies, captioned by copy index."""
    configs = ConfigResolver(options.preset, options.method, **options.overrides)
    rows = []
    for source in sources:
        pixels = _prepared(root, source, options)
        tiles = [Tile(pixels, source)]
        for copy, _, copied in render_outputs(pixels, folder_item(source), options, mixing, configs):
            if copy is not None:
                tiles.append(Tile(copied, f"copy {copy}"))
        rows.append(tiles)
    title = f"{configs.method.title}: seed {options.seed}, K={options.k}, preset {options.preset}"
    return compose(rows, title=title)


# --- one copy taken apart -------------------------------------------------------------------------


def describe_step(step: dict) -> str:
    """A short description of a sampled step, e.g. ``rotate -7 deg``, ``add 16x9 @ (3,12)`` or a PixMix round's
    ``multiply a=1.20 g=-0.31`` (ASCII: the default font has no ×, ≥ or ° glyphs)."""
    if "op" not in step:  # a PixMix round: a mix of the whole image
        return f"{step['mix']} a={step['alpha']:.2f} g={step['gamma']:+.2f}"
    if step["op"] == "patch":
        left, top, width, height = step["box"]
        source = step["source"]
        origin = "" if source == "mixing" else f" from {describe_step(source)}"
        return f"{step['mix']} {width}x{height} @ ({left},{top}){origin}"
    name = step["op"]
    if "degrees" in step:
        return f"{name} {step['degrees']} deg"
    if "pixels" in step:
        return f"{name} {step['pixels']} px"
    if "bits" in step:
        return f"{name} {step['bits']} bits"
    if "threshold" in step:
        return f"{name} >= {step['threshold']}"
    if "cutoff" in step:
        return f"{name} {step['cutoff']:.1f}%"
    if "factor" in step:
        return f"{name} {step['factor']:+.3f}" if name.startswith("shear") else f"{name} x{step['factor']:.2f}"
    return name


def explain_copy(root: Path, source: str, copy: int, options: AugmentOptions, mixing: MixingSet) -> Image.Image:
    """Copy ``copy`` of ``source`` taken apart: original, mixing crop, every chain step, weights, result."""
    if not 0 <= copy < options.k:
        raise ValueError(f"--copy must be between 0 and {options.k - 1} (K = {options.k})")
    configs = ConfigResolver(options.preset, options.method, **options.overrides)
    pixels = _prepared(root, source, options)
    height, width = pixels.shape[:2]
    made = augment_copy(pixels, mixing, generator_for(options.seed, source, copy), configs(height, width))
    file_name = dict(output_names(folder_item(source), options))[copy]
    first = [Tile(pixels, f"original {source}")]
    if made.mixing_window is not None:
        first.append(Tile(np.ascontiguousarray(made.mixing_window), f"mixing {made.mixing_picture}"))
    first.append(Tile(made.pixels, f"result = {file_name.rsplit('/', 1)[-1]}"))
    explanation = configs.method.explain(pixels, made.mixing_window, made.plan)
    rows = [first]
    for row in explanation.rows:
        rows.append(
            [Tile(shown, caption if isinstance(caption, str) else describe_step(caption)) for caption, shown in row]
        )
    header = f"{source}, copy {copy} (seed {options.seed}), {configs.method.title}, {explanation.summary}"
    return compose(rows, title=f"{header}\n{explanation.formula}")


# --- a mixing set ---------------------------------------------------------------------------------------


def mixing_grid(mixing: MixingSet, count: int = 64, columns: int = 8, side: int = 128) -> Image.Image:
    """The first ``count`` pictures of a set, each scaled to ``side``×``side``, captioned with its name."""
    tiles = []
    for index in range(min(count, len(mixing))):
        picture = Image.fromarray(mixing.picture(index), "RGB").resize((side, side), Image.Resampling.BILINEAR)
        tiles.append(Tile(np.array(picture), mixing.names[index]))
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    return compose(rows, title=f"{len(mixing)} mixing pictures; the first {len(tiles)}")
