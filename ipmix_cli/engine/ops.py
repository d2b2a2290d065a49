"""Image-level operations (SPEC §1.2): one registry of (name, sample, apply), shared by every method.

Each operation turns a ``level ~ U(0.1, severity)`` into small JSON-serialisable parameters
(``sample``), then applies them to an H×W×3 uint8 array (``apply``) without touching its input.
Names in the registry are the names written in traces and manifests. The registry's level mappings are
IPMix's; a method whose reference maps a level differently (AugMix's autocontrast has no cutoff) has its own
table of mappings, ``*_LEVELS``, over the same operations and appliers.

Pillow semantics are kept exactly; the point operations (equalize, autocontrast, posterize, solarize,
invert) and the integer shifts (translate, mirror) are done in numpy because Pillow builds their lookup
tables in Python, which costs more than the operation itself on small images (autocontrast: 150 µs at 32×32).
On small images rotations and shears gather exactly Pillow's bilinear result in numpy (``affine.py``), so no
Pillow image is made at all with the default operations of IPMix and AugMix; larger rotations and the
enhancers call Pillow.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageEnhance

from . import bands, compiled
from .affine import apply_tables, cached_tables, shear
from .draws import Draws

BILINEAR = Image.Resampling.BILINEAR

Params = dict
Box = tuple  # (left, top, width, height)
#: Up to this many pixels, shears gather exactly Pillow's result (``affine.shear``) and equalize takes a
#: one-pass numpy histogram (fixed costs dominate); above it, the row-run numpy shear (Pillow's result within
#: one level) and Pillow's C histogram.
SMALL_PIXELS = 64 * 64
#: Up to this many pixels, rotations gather from cached tables (exactly Pillow's result, at half the cost).
TABLE_ROTATION_PIXELS = 40 * 40
Sampler = Callable[[Draws, float, int, int], Params]
Applier = Callable[[np.ndarray, Params], np.ndarray]
RegionApplier = Callable[[np.ndarray, Params, Box], np.ndarray]


def ival(level: float, maxval: float) -> int:
    """``int(level · maxval / 10)``: the integer strength of an operation (truncated)."""
    return int(level * maxval / 10)


def fval(level: float, maxval: float) -> float:
    """``level · maxval / 10``: the real-valued strength of an operation."""
    return float(level) * maxval / 10


def _signed(draws: Draws, value):
    """``value`` with a random sign, each with probability 1/2."""
    return -value if draws.coin() else value


@dataclass(frozen=True)
class ImageOp:
    """An operation: ``sample`` draws its parameters, ``apply`` applies them to a whole image, and
    ``region`` (when given) computes only a box of the result, for patch sources that use no more."""

    name: str
    sample: Sampler
    apply: Applier
    region: RegionApplier | None = None


def _to_pil(image: np.ndarray) -> Image.Image:
    # frombytes reads the buffer directly; fromarray goes through __array_interface__ at 3x the cost
    return Image.frombytes("RGB", (image.shape[1], image.shape[0]), np.ascontiguousarray(image))


def _from_pil(image: Image.Image) -> np.ndarray:
    return np.array(image)  # a writable copy; np.asarray would be read-only


# --- the operations -----------------------------------------------------------------------------


_IDENTITY = np.arange(256, dtype=np.uint8)


@lru_cache(maxsize=16)
def _channel_offsets(pixels: int) -> np.ndarray:
    """0, 256, 512 repeated for every pixel: channel values become indices into one 768-bin histogram."""
    offsets = np.tile(np.array([0, 256, 512], np.uint16), pixels)
    offsets.flags.writeable = False
    return offsets


@lru_cache(maxsize=16)
def _channel_bounds(pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """For a flat cumulative 768-bin histogram: each bin's count of earlier channels, and where each
    channel's cumulative count ends."""
    starts = np.repeat(np.array([0, pixels, 2 * pixels], np.intp), 256)
    ends = np.array([pixels, 2 * pixels, 3 * pixels], np.intp)
    starts.flags.writeable = ends.flags.writeable = False
    return starts, ends


def _histogram(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | Image.Image]:
    """The flat 768-bin histogram (R, G, B), and what :func:`_apply_lut` maps through a table.

    Small images take the histogram of all channels with one ``bincount`` and hand back the offset pixel
    indices (for one ``take``); large ones use Pillow's C histogram, which avoids widening every pixel, and
    hand back the Pillow image (for Pillow's C ``point``).
    """
    count = image.shape[0] * image.shape[1]
    if count <= SMALL_PIXELS:
        index = np.add(image.reshape(-1), _channel_offsets(count))
        return np.bincount(index, minlength=768), index
    index = _to_pil(image)
    return np.array(index.histogram(), dtype=np.intp), index


def _apply_lut(image: np.ndarray, lut: np.ndarray, index: np.ndarray | Image.Image) -> np.ndarray:
    """Map every channel value through the flat 768-entry table ``lut`` (see :func:`_histogram`)."""
    if isinstance(index, np.ndarray):
        return lut.take(index).reshape(image.shape)
    return _from_pil(index.point(lut.tolist()))


def _equalize_lut(hist: np.ndarray, count: int) -> np.ndarray:
    """The flat 768-entry lookup table (R, G, B) of Pillow's ``ImageOps.equalize`` for a histogram."""
    starts, ends = _channel_bounds(count)
    below = np.cumsum(hist)
    last = np.searchsorted(below, ends)  # flat position of each channel's largest value
    step = (count - hist[last]) // 255
    below -= hist
    below -= starts  # pixels below each value, within its channel
    if step.all():
        below += np.repeat(step // 2, 256)
        below //= np.repeat(step, 256)
        np.minimum(below, 255, out=below)
        return below.astype(np.uint8)
    # Pillow leaves a channel alone when its step is 0 (one value, or nearly all pixels at its largest)
    lut = np.tile(_IDENTITY, 3)
    for channel in np.flatnonzero(step).tolist():
        part = slice(256 * channel, 256 * (channel + 1))
        size = int(step[channel])
        lut[part] = np.minimum((below[part] + size // 2) // size, 255)
    return lut


def _apply_channel_luts(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    out = np.empty_like(image)
    for c in range(3):
        np.take(lut[256 * c : 256 * (c + 1)], image[..., c], out=out[..., c])
    return out


def _tone_compiled(kernels, image: np.ndarray, box: Box | None, kind: int, cut: int = 0) -> np.ndarray:
    """Equalize or autocontrast (``kernels.tone``) of the whole image, or of ``box`` of it."""
    if box is None:
        left, top, width, height = 0, 0, image.shape[1], image.shape[0]
    else:  # the box as slicing cuts it (plans are checked to hold boxes inside the image)
        left, top = max(box[0], 0), max(box[1], 0)
        width = max(0, min(box[0] + box[2], image.shape[1]) - left)
        height = max(0, min(box[1] + box[3], image.shape[0]) - top)
    out = np.empty((height, width, 3), np.uint8)
    kernels.tone(np.ascontiguousarray(image), out, top, left, kind, cut)
    return out


def _equalize(image: np.ndarray, params: Params) -> np.ndarray:
    """Pillow's ``ImageOps.equalize``."""
    kernels = compiled.active()
    if kernels is not None:
        return _tone_compiled(kernels, image, None, kernels.EQUALIZE)
    hist, index = _histogram(image)
    return _apply_lut(image, _equalize_lut(hist, image.shape[0] * image.shape[1]), index)


def _equalize_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    kernels = compiled.active()
    if kernels is not None:
        return _tone_compiled(kernels, image, box, kernels.EQUALIZE)
    hist, _ = _histogram(image)  # the histogram is the whole image's
    return _apply_channel_luts(image[_rows_cols(box)], _equalize_lut(hist, image.shape[0] * image.shape[1]))


_LEVELS = np.arange(256, dtype=np.float64)


def _autocontrast_lut(hist: np.ndarray, count: int, cutoff: float) -> np.ndarray:
    """The flat 768-entry lookup table of Pillow's ``ImageOps.autocontrast(image, cutoff)``.

    Pillow removes ``int(n·cutoff // 100)`` pixels from each end of a channel's histogram, then stretches the
    lowest remaining value to 0 and the highest to 255: ``int(v·scale + offset)`` clamped, with
    ``scale = 255 / (hi − lo)`` and ``offset = −lo·scale``; a channel with ``hi ≤ lo`` is left alone. The lowest
    remaining value is the first whose cumulative count exceeds the cut, the highest the last whose count from
    the top does; when they meet or cross, the channel is left alone as in Pillow.
    """
    cut = int(count * cutoff // 100)
    hist = hist.reshape(3, 256)
    low = np.argmax(np.cumsum(hist, axis=1) > cut, axis=1)
    high = 255 - np.argmax(np.cumsum(hist[:, ::-1], axis=1) > cut, axis=1)
    stretched = (high > low) & (hist.sum(axis=1) > cut)  # (argmax gives 0 when no count exceeds the cut)
    scale = 255.0 / np.maximum(high - low, 1)
    values = _LEVELS * scale[:, None]
    values += (-low * scale)[:, None]
    np.clip(values, 0, 255, out=values)
    lut = values.astype(np.uint8)  # truncation, as Pillow's int()
    lut[~stretched] = _IDENTITY
    return lut.reshape(-1)


def _autocontrast(image: np.ndarray, params: Params) -> np.ndarray:
    """Pillow's ``ImageOps.autocontrast`` with ``cutoff`` percent cut from each end of each channel."""
    kernels = compiled.active()
    if kernels is not None:
        cut = int(image.shape[0] * image.shape[1] * params["cutoff"] // 100)  # as _autocontrast_lut's
        return _tone_compiled(kernels, image, None, kernels.AUTOCONTRAST, cut)
    hist, index = _histogram(image)
    return _apply_lut(image, _autocontrast_lut(hist, image.shape[0] * image.shape[1], params["cutoff"]), index)


def _rows_cols(box: Box) -> tuple[slice, slice]:
    left, top, width, height = box
    return slice(top, top + height), slice(left, left + width)


def _pointwise_region(apply: Applier) -> RegionApplier:
    """For operations where each output pixel depends on the same input pixel alone."""

    def region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
        return apply(image[_rows_cols(box)], params)

    return region


def _pillow_affine_region(image: np.ndarray, coefficients, box: Box) -> np.ndarray:
    """Box ``box`` of Pillow's bilinear affine transform of the whole image, computing only that box.

    Output pixel (x, y) of the box is pixel (x + left, y + top) of the whole result, so the constant
    terms absorb the offset: c' = c + a·left + b·top, f' = f + d·left + e·top.
    """
    a, b, c, d, e, f = coefficients
    left, top, width, height = box
    shifted = (a, b, c + a * left + b * top, d, e, f + d * left + e * top)
    kernels = compiled.active()
    if kernels is not None:
        return _affine_compiled(kernels, image, shifted, width, height)
    pil = _to_pil(image)
    return _from_pil(pil.transform((width, height), Image.Transform.AFFINE, shifted, resample=BILINEAR))


def _affine_compiled(kernels, image: np.ndarray, coefficients, width: int, height: int) -> np.ndarray:
    """Pillow's bilinear affine transform into a ``width``×``height`` output (``kernels.affine``)."""
    out = np.empty((height, width, 3), np.uint8)
    kernels.affine(np.ascontiguousarray(image), out, *map(float, coefficients))
    return out


def _rotation_coefficients(degrees: float, width: int, height: int) -> tuple:
    """The inverse affine matrix Pillow's ``Image.rotate`` uses (centre of the image, no expand)."""
    angle = -math.radians(degrees)
    a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
    d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
    centre_x, centre_y = width / 2, height / 2
    c = a * -centre_x + b * -centre_y + centre_x
    f = d * -centre_x + e * -centre_y + centre_y
    return a, b, c, d, e, f


def _posterize(image: np.ndarray, params: Params) -> np.ndarray:
    mask = (0xFF << (8 - params["bits"])) & 0xFF
    return np.bitwise_and(image, np.uint8(mask))


def _solarize(image: np.ndarray, params: Params) -> np.ndarray:
    """Values at or above the threshold inverted: ``v XOR 255`` where selected, as ``255 − v``."""
    threshold = params["threshold"]
    if threshold >= 256:
        return image.copy()
    flip = np.greater_equal(image, max(threshold, 0)).view(np.uint8)  # 1 where inverted
    np.negative(flip, out=flip)  # 1 → 255 (uint8 wraps), 0 stays 0
    return np.bitwise_xor(image, flip, out=flip)


def _rotate(image: np.ndarray, params: Params) -> np.ndarray:
    if params["degrees"] == 0:
        return image.copy()
    height, width = image.shape[:2]
    kernels = compiled.active()
    if height * width <= TABLE_ROTATION_PIXELS:
        coefficients = _rotation_coefficients(params["degrees"], width, height)
        if kernels is not None:
            return _affine_compiled(kernels, image, coefficients, width, height)
        return apply_tables(image, cached_tables(height, width, coefficients))
    turn = params["degrees"] % 360.0
    if kernels is not None and turn not in (0, 90, 180, 270):  # (which Pillow turns by copying or transposing)
        # Pillow's own matrix: it reduces the angle modulo 360 first, which changes the last bits of the
        # sine and cosine of a negative angle (the tables above are made without, as before)
        return _affine_compiled(kernels, image, _rotation_coefficients(turn, width, height), width, height)
    return _from_pil(_to_pil(image).rotate(params["degrees"], resample=BILINEAR))


def _rotate_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    if params["degrees"] == 0:
        return image[_rows_cols(box)].copy()
    coefficients = _rotation_coefficients(params["degrees"], image.shape[1], image.shape[0])
    return _pillow_affine_region(image, coefficients, box)


def _shear(image: np.ndarray, factor: float, axis: int) -> np.ndarray:
    """Bilinear shear with Pillow's conventions: ``axis=1`` is shear_x, ``axis=0`` shear_y (see
    :func:`_shear_lines`), in bands of lines (rows for shear_x, columns for shear_y) on a large image: a line's
    values depend on its own index alone, and the float32 copies stay small."""
    lines = image.shape[1 - axis]
    count = max(1, bands.BAND_VALUES // max(1, image.size // lines))
    if count >= lines:
        return _shear_lines(image, factor, axis)
    out = np.empty(image.shape, np.uint8)
    for first in range(0, lines, count):
        band = slice(first, min(first + count, lines))
        part = (band, slice(None)) if axis == 1 else (slice(None), band)
        out[part] = _shear_lines(image[part], factor, axis, first)
    return out


def _shear_lines(image: np.ndarray, factor: float, axis: int, first: int = 0) -> np.ndarray:
    """Bilinear shear with Pillow's conventions: ``axis=1`` is shear_x, ``axis=0`` shear_y; ``image`` holds the
    lines from line ``first`` on of the image sheared (its shifts are theirs).

    For shear_x, Pillow's affine transform samples input column ``x + 0.5 + s`` for output column ``x``,
    where row ``y`` has shift ``s = factor·(y + 0.5)``; it clamps the two neighbours to the image, writes
    black where that position falls outside [0, width), and truncates the interpolated value. Each row has
    a single integer shift and fraction, so runs of rows sharing the integer shift are interpolated
    together from two slices of an edge-padded copy (columns play the rows' part for shear_y).
    """
    lines = image.shape[1 - axis]  # rows for shear_x, columns for shear_y
    length = image.shape[axis]
    with np.errstate(over="ignore", invalid="ignore"):  # (a hand-made factor near float64's limit: all black)
        shifts = factor * (np.arange(first, first + lines) + 0.5)
        whole = np.floor(shifts)
        fraction = (shifts - whole).astype(np.float32)
    # (held within a line's length and one: a line shifted further is black all the same, and a shift beyond
    # int64's range would convert to nonsense; a hand-made plan may give any finite factor)
    whole = np.clip(np.nan_to_num(whole, nan=length + 1), -(length + 1), length + 1).astype(np.int64)
    # A line shifted by a whole line's length or more is black, so the padding never needs to be wider than
    # the line: the padded copy stays within three times the image, whatever its aspect ratio (padding by the
    # largest shift made a 40000×2 strip's shear_x a 1.5 GB array, and a 2×40000 strip's shear_y 11 GB).
    pad = min(int(np.abs(whole).max()), length) + 2
    padded_shape = list(image.shape)
    padded_shape[axis] += 2 * pad
    # float32 so the strided column slices of shear_y need no casting (numpy buffers casts of
    # non-contiguous operands, which costs more than the arithmetic)
    padded = np.empty(padded_shape, np.float32)
    inner = [slice(None), slice(None)]
    inner[axis] = slice(pad, pad + length)
    padded[tuple(inner)] = image
    edge = [slice(None), slice(None)]
    edge[axis] = slice(0, pad)
    padded[tuple(edge)] = np.take(image, [0], axis=axis)
    edge[axis] = slice(pad + length, None)
    padded[tuple(edge)] = np.take(image, [length - 1], axis=axis)
    if axis == 1:
        weights = fraction[:, None, None]
    else:
        # (1, columns, 3) rather than (1, columns, 1): the last two axes then coalesce into one long
        # inner loop instead of a loop of length 3
        weights = np.repeat(fraction[:, None], 3, axis=1)[None]
    mixed = np.empty(image.shape, np.float32)
    starts = np.flatnonzero(np.diff(whole, prepend=whole[0] - 1))
    for begin, end in zip(starts.tolist(), [*starts[1:].tolist(), lines]):
        if not -length <= whole[begin] < length:
            (mixed[begin:end] if axis == 1 else mixed[:, begin:end])[...] = 0  # the whole run is black
            continue
        offset = pad + int(whole[begin])
        if axis == 1:
            left = padded[begin:end, offset : offset + length]
            right = padded[begin:end, offset + 1 : offset + 1 + length]
            segment, weight = mixed[begin:end], weights[begin:end]
        else:
            left = padded[offset : offset + length, begin:end]
            right = padded[offset + 1 : offset + 1 + length, begin:end]
            segment, weight = mixed[:, begin:end], weights[:, begin:end]
        np.subtract(right, left, out=segment)
        segment *= weight
        segment += left
    out = mixed.astype(np.uint8)  # truncation toward zero, as Pillow's (UINT8) cast; values are >= 0
    # Black where the sampled position leaves [0, length): first valid index and end, per line.
    first = np.clip(np.nan_to_num(np.ceil(-0.5 - shifts), nan=length), 0, length).astype(np.int64)
    stop = np.clip(np.nan_to_num(np.ceil(length - 0.5 - shifts), nan=0), 0, length).astype(np.int64)
    bounds = np.stack([first, stop], axis=1)
    runs = np.flatnonzero(np.any(np.diff(bounds, axis=0, prepend=bounds[:1] - 1) != 0, axis=1))
    for begin, end in zip(runs.tolist(), [*runs[1:].tolist(), lines]):
        low, high = int(first[begin]), max(int(stop[begin]), int(first[begin]))
        if axis == 1:
            out[begin:end, :low] = 0
            out[begin:end, high:] = 0
        else:
            out[:low, begin:end] = 0
            out[high:, begin:end] = 0
    return out


def _shear_x_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    return _pillow_affine_region(image, (1, params["factor"], 0, 0, 1, 0), box)


def _shear_y_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    return _pillow_affine_region(image, (1, 0, 0, params["factor"], 1, 0), box)


def _shear_compiled(kernels, image: np.ndarray, factor: float, axis: int) -> np.ndarray:
    """The shear ``_shear_x``/``_shear_y`` make, by the kernels: Pillow's (as ``shear``) on small images, the
    row-run shear (as ``_shear``) above ``SMALL_PIXELS``."""
    height, width = image.shape[:2]
    if height * width <= SMALL_PIXELS:
        coefficients = (1, factor, 0, 0, 1, 0) if axis == 1 else (1, 0, 0, factor, 1, 0)
        return _affine_compiled(kernels, image, coefficients, width, height)
    out = np.empty((height, width, 3), np.uint8)
    kernels.shear_lines(np.ascontiguousarray(image), out, float(factor), axis)
    return out


def _shear_x(image: np.ndarray, params: Params) -> np.ndarray:
    kernels = compiled.active()
    if kernels is not None:
        return _shear_compiled(kernels, image, params["factor"], axis=1)
    if image.shape[0] * image.shape[1] <= SMALL_PIXELS:
        return shear(image, params["factor"], axis=1)  # exactly Pillow's
    return _shear(image, params["factor"], axis=1)


def _shear_y(image: np.ndarray, params: Params) -> np.ndarray:
    kernels = compiled.active()
    if kernels is not None:
        return _shear_compiled(kernels, image, params["factor"], axis=0)
    if image.shape[0] * image.shape[1] <= SMALL_PIXELS:
        return shear(image, params["factor"], axis=0)
    return _shear(image, params["factor"], axis=0)


def _translate(image: np.ndarray, shift: int, axis: int) -> np.ndarray:
    """Output pixel i shows input pixel i + shift along ``axis`` (Pillow's affine offset), black where
    uncovered. An integer offset samples pixel centres exactly, so this equals Pillow's bilinear result."""
    length = image.shape[axis]
    if abs(shift) >= length:
        return np.zeros_like(image)
    out = np.empty_like(image)  # (each byte written once: the covered part copied, the rest zeroed)
    source = [slice(None), slice(None)]
    target = [slice(None), slice(None)]
    uncovered = [slice(None), slice(None)]
    source[axis] = slice(shift, None) if shift >= 0 else slice(0, length + shift)
    target[axis] = slice(0, length - shift) if shift >= 0 else slice(-shift, None)
    uncovered[axis] = slice(length - shift, None) if shift >= 0 else slice(0, -shift)
    out[tuple(target)] = image[tuple(source)]
    out[tuple(uncovered)] = 0
    return out


def _translate_x(image: np.ndarray, params: Params) -> np.ndarray:
    return _translate(image, params["pixels"], axis=1)


def _translate_y(image: np.ndarray, params: Params) -> np.ndarray:
    return _translate(image, params["pixels"], axis=0)


def _reversed_columns(pixels: np.ndarray) -> np.ndarray:
    """``pixels[:, ::-1]`` as a new array, one channel at a time: copying whole reversed pixels runs an
    inner loop of length 3, several times slower than three strided single-channel copies."""
    out = np.empty(pixels.shape, np.uint8)
    for channel in range(3):
        out[..., channel] = pixels[:, ::-1, channel]
    return out


def _mirror(image: np.ndarray, params: Params) -> np.ndarray:
    kernels = compiled.active()
    if kernels is not None:
        out = np.empty(image.shape, np.uint8)
        kernels.mirror(np.ascontiguousarray(image), out)
        return out
    return _reversed_columns(image)


def _invert(image: np.ndarray, params: Params) -> np.ndarray:
    return np.invert(image)


def _mirror_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    left, top, width, height = box
    start = image.shape[1] - left - width
    return _reversed_columns(image[top : top + height, start : start + width])


def _enhancer(kind) -> Applier:
    def apply(image: np.ndarray, params: Params) -> np.ndarray:
        return _from_pil(kind(_to_pil(image)).enhance(params["factor"]))

    return apply


# --- sampling: level -> parameters (output ranges at severity s in the comments) -----------------


def _no_params(draws, level, height, width) -> Params:
    return {}


def _sample_posterize(draws, level, height, width) -> Params:
    return {"bits": 4 - ival(level, 4)}  # 4 - {0..int(0.4 s)}: 4 at s <= 2, down to 1 at s = 10


def _sample_rotate(draws, level, height, width) -> Params:
    return {"degrees": _signed(draws, ival(level, 30))}  # integer degrees, |d| <= 3 s - 1


def _sample_solarize(draws, level, height, width) -> Params:
    return {"threshold": 256 - ival(level, 256)}  # 256 (no-op) down to 256 - int(25.6 s)


def _sample_shear(draws, level, height, width) -> Params:
    return {"factor": _signed(draws, fval(level, 0.3))}  # |f| in [0.003, 0.03 s)


def _sample_translate_x(draws, level, height, width) -> Params:
    return {"pixels": _signed(draws, ival(level, width / 3))}  # |p| <= W s / 30


def _sample_translate_y(draws, level, height, width) -> Params:
    return {"pixels": _signed(draws, ival(level, height / 3))}  # |p| <= H s / 30


def _sample_autocontrast(draws, level, height, width) -> Params:
    return {"cutoff": 10 - fval(level, 10)}  # percent, (10 - s, 9.9]


def _sample_enhance(draws, level, height, width) -> Params:
    return {"factor": fval(level, 1.8) + 0.1}  # [0.118, 0.18 s + 0.1)


_REGISTRY = [
    ImageOp("equalize", _no_params, _equalize, _equalize_region),
    ImageOp("posterize", _sample_posterize, _posterize, _pointwise_region(_posterize)),
    ImageOp("rotate", _sample_rotate, _rotate, _rotate_region),
    ImageOp("solarize", _sample_solarize, _solarize, _pointwise_region(_solarize)),
    ImageOp("shear_x", _sample_shear, _shear_x, _shear_x_region),
    ImageOp("shear_y", _sample_shear, _shear_y, _shear_y_region),
    ImageOp("translate_x", _sample_translate_x, _translate_x),
    ImageOp("translate_y", _sample_translate_y, _translate_y),
    ImageOp("mirror", _no_params, _mirror, _mirror_region),
    ImageOp("invert", _no_params, _invert, _pointwise_region(_invert)),
    ImageOp("autocontrast", _sample_autocontrast, _autocontrast),
    ImageOp("color", _sample_enhance, _enhancer(ImageEnhance.Color)),
    ImageOp("contrast", _sample_enhance, _enhancer(ImageEnhance.Contrast)),
    ImageOp("brightness", _sample_enhance, _enhancer(ImageEnhance.Brightness)),
    ImageOp("sharpness", _sample_enhance, _enhancer(ImageEnhance.Sharpness)),
]

IMAGE_OPS: dict[str, ImageOp] = {op.name: op for op in _REGISTRY}
ALL_OPS: tuple[str, ...] = tuple(IMAGE_OPS)
#: The default list: the last five overlap with ImageNet-C test corruptions (SPEC §1.2).
DEFAULT_OPS: tuple[str, ...] = ALL_OPS[:10]
#: IPMix's level mappings (hzlsaber/IPMix ``IPMix_utils.py``): the registry's own.
IPMIX_LEVELS: dict[str, Sampler] = {op.name: op.sample for op in _REGISTRY}


def _sample_full_range(draws, level, height, width) -> Params:
    return {"cutoff": 0}  # Pillow's autocontrast with its default cutoff: the level is not used


#: AugMix's list (google-research/augmix ``augmentations.py``, also PixMix's ``pixmix_utils.py``): no mirror
#: or invert; autocontrast is in the base list, without a cutoff. ``--all-ops`` adds the four enhancers.
AUGMIX_OPS: tuple[str, ...] = (
    "autocontrast",
    "equalize",
    "posterize",
    "rotate",
    "solarize",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
AUGMIX_ALL_OPS: tuple[str, ...] = AUGMIX_OPS + ("color", "contrast", "brightness", "sharpness")
#: AugMix's level mappings: IPMix's (both come from the same AutoAugment-style helpers) but autocontrast.
AUGMIX_LEVELS: dict[str, Sampler] = {
    **{name: IPMIX_LEVELS[name] for name in AUGMIX_ALL_OPS},
    "autocontrast": _sample_full_range,
}


def sample_image_op(
    draws: Draws,
    ops: tuple[str, ...],
    severity: int,
    height: int,
    width: int,
    levels: dict[str, Sampler] = IPMIX_LEVELS,
) -> Params:
    """Draw one operation uniformly from ``ops`` and its parameters at ``severity`` (mapped by ``levels``)."""
    name = ops[draws.index(len(ops))]
    level = draws.between(0.1, severity)
    return {"op": name, **levels[name](draws, level, height, width)}


def iterate_ops(image: np.ndarray, steps: list[Params]) -> Iterator[np.ndarray]:
    """The image after each of ``steps`` applied in turn (an image-level chain); ``image`` is left as it was."""
    current = image
    for step in steps:
        current = apply_image_op(current, step)
        yield current


def apply_image_op(image: np.ndarray, params: Params) -> np.ndarray:
    """Apply sampled parameters; returns a new array, ``image`` (H×W×3 uint8) is left as it was."""
    _check_rgb(image)
    return IMAGE_OPS[params["op"]].apply(image, params)


def _check_rgb(image: np.ndarray) -> None:
    """The operations take H×W×3 uint8 images (the kernels read three bytes a pixel; the plain path's answer to
    anything else was garbage of its own)."""
    if image.shape[2:] != (3,) or image.dtype != np.uint8:
        raise ValueError(f"an image operation takes an H×W×3 uint8 image, got {image.dtype} {image.shape}")


def apply_image_op_region(image: np.ndarray, params: Params, box: Box) -> np.ndarray:
    """Box ``(left, top, width, height)`` of ``apply_image_op(image, params)``, computing little else.

    Equal to cropping the whole result, except that the bilinear shears take Pillow's own path here,
    which may differ from the whole-image numpy path by one level in rare pixels.
    """
    _check_rgb(image)
    # whole numbers on both paths (numpy's unsigned ones would wrap in the subtractions, numba truncates floats)
    box = left, top, width, height = tuple(map(operator.index, box))
    if not (0 < width and 0 < height and 0 <= left <= image.shape[1] - width and 0 <= top <= image.shape[0] - height):
        raise ValueError(f"box {box} does not lie inside the {image.shape[1]}×{image.shape[0]} image")
    op = IMAGE_OPS[params["op"]]
    if op.region is not None:
        return op.region(image, params, box)
    return op.apply(image, params)[_rows_cols(box)]
