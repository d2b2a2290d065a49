"""The compiled kernels: every per-pixel loop of the engine in numba, each giving the plain path's bytes exactly.

Imported only by ``ipmix_cli.engine.compiled`` (which decides when, and where numba caches the machine code); the
engine reaches the kernels through ``compiled.active()``. Each kernel here is a plain Python function with
the explicit signature it is compiled for (:data:`SIGNATURES`); :func:`compile_all` compiles them (or loads
them from the cache) and replaces each function in this module by its compiled version. The plain numpy and
Pillow code in ``ops.py``, ``affine.py``, ``mixing.py`` and ``blend.py`` is the reference: the tests run both
on the same inputs and compare bytes. What "exactly" takes is written at each kernel: the same floating-point
operations in the same order and precision as the reference (numba does not reassociate or fuse them
without ``fastmath``, which is never set here).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ..seeding import MASK_LANES

# Inputs are read-only types (numba passes a writable array where a read-only one is declared, not the
# reverse: mixing pictures and images made from Pillow buffers are read-only); "A" layouts take views.
_IMAGE = types.Array(types.uint8, 3, "C", readonly=True)
_ANY_IMAGE = types.Array(types.uint8, 3, "A", readonly=True)
_OUT = types.Array(types.uint8, 3, "C")
_ANY_OUT = types.Array(types.uint8, 3, "A")
_FLAT = types.Array(types.uint8, 1, "C", readonly=True)
_FLAT_OUT = types.Array(types.uint8, 1, "C")
_TABLE = types.Array(types.float64, 1, "C", readonly=True)
_TABLE32 = types.Array(types.float32, 1, "C", readonly=True)
_FLOATS = types.Array(types.float32, 1, "C", readonly=True)
_FLOATS_OUT = types.Array(types.float32, 1, "C")
_INDICES = types.Array(types.int64, 1, "C")
u64 = types.uint64
_CONSTANTS = types.Array(types.uint64, 1, "C", readonly=True)
f64, f32, i64 = types.float64, types.float32, types.int64

SIGNATURES: dict[str, object] = {}


def _signature(signature):
    def register(function):
        SIGNATURES[function.__name__] = signature
        return function

    return register


def compile_all() -> None:
    """Compile every kernel (or load it from numba's cache) and put the compiled versions in this module."""
    module = globals()
    for name, signature in SIGNATURES.items():
        function = module[name]
        if isinstance(function, numba.core.dispatcher.Dispatcher):
            continue
        module[name] = numba.njit(signature, cache=True, nogil=True, error_model="numpy")(function)


# --- geometry: Pillow's bilinear affine transform -------------------------------------------------------


@numba.njit(types.uint32(_FLAT, u64), cache=True, nogil=True, inline="always")
def _pixel_word(source, at):
    """The pixel whose red value is ``source[at]`` as one 32-bit word, red in the low byte (as Pillow holds RGB)."""
    return (
        np.uint32(source[at])
        | (np.uint32(source[at + np.uint64(1)]) << 8)
        | (np.uint32(source[at + np.uint64(2)]) << 16)
    )


@_signature(types.void(_IMAGE, _OUT, f64, f64, f64, f64, f64, f64))
def affine(image, out, a, b, c, d, e, f):
    """Pillow's ``transform(size, AFFINE, (a, b, c, d, e, f), BILINEAR)`` of ``image`` into ``out`` (whose size
    is the output size), bit for bit: Pillow's ``affine_transform`` and ``bilinear_filter32RGB`` in its order
    of operations (``affine.py`` describes them). ``a·xin`` and ``d·xin`` are the same products for every row,
    so they are computed once per column; each sum is formed as Pillow forms it.

    The part of the image the output reads is first packed as Pillow holds RGB, a 32-bit word a pixel, one
    pixel wider on every side with every position clamped to the image: that is the clamping of the neighbours
    (a position's left and top neighbours are never beyond −1, its right and bottom ones never beyond the size),
    so a position's four neighbours are at one index, the next, and the same a row further on. Then row by
    row in passes, so that the arithmetic runs on whole rows at once (vectorised): where each output pixel
    reads and its two weights; its neighbours, the top two and the bottom two each as one 64-bit word; for
    each of a pixel's channels the two interpolations in float64 and the truncation, black outside the image.
    Offsets are unsigned (see ``mirror``)."""
    if image.shape[2] != 3 or out.shape[2] != 3:
        raise ValueError("affine takes H×W×3 images")
    height, width = image.shape[0], image.shape[1]
    rows, columns = out.shape[0], out.shape[1]
    if height == 0 or width == 0:  # nothing to read: all black (and no window to pack)
        out[...] = 0
        return
    source = image.reshape(-1)
    # Only the pixels the output can read are packed (a patch's box reads a small part of the image): those within
    # the positions of its corners (an affine map's extremes over a rectangle lie at its corners), clamped to the
    # image, with two more on each side for the right and bottom neighbours and for rounding.
    low_x, high_x, low_y, high_y = np.inf, -np.inf, np.inf, -np.inf
    finite = True
    for corner_y in (0.5, rows - 0.5):
        for corner_x in (0.5, columns - 0.5):
            u = a * corner_x + b * corner_y + c
            v = d * corner_x + e * corner_y + f
            low_x, high_x = min(low_x, u), max(high_x, u)
            low_y, high_y = min(low_y, v), max(high_y, v)
            finite &= math.isfinite(u) and math.isfinite(v)
    if not finite:  # a hand-made map that overflows: positions need not lie between the corners, so the whole image
        low_x, high_x, low_y, high_y = -1.0, width + 1.0, -1.0, height + 1.0
    first_x = min(max(math.floor(max(low_x, -1.0)) - 2, 0), width - 1)
    last_x = min(max(math.floor(min(high_x, width + 1.0)) + 2, 0), width - 1)
    first_y = min(max(math.floor(max(low_y, -1.0)) - 2, 0), height - 1)
    last_y = min(max(math.floor(min(high_y, height + 1.0)) + 2, 0), height - 1)
    # the window, one pixel wider on every side, each position clamped to the image (which is the clamping of
    # the neighbours): a position's neighbours are then at one index and the next one, a row further on
    origin_x, origin_y = first_x - 1, first_y - 1
    stride = last_x - first_x + 3
    packed = np.empty((last_y - first_y + 3) * stride, np.uint32)
    for row in range(last_y - first_y + 3):
        start = np.uint64(3 * width * min(max(origin_y + row, 0), height - 1))
        line = packed[row * stride : (row + 1) * stride]
        inner = line[1 : stride - 1]  # the columns from the first to the last: inside the image
        for x in range(np.uint64(stride - 2)):
            inner[x] = _pixel_word(source, start + np.uint64(3) * (np.uint64(first_x) + x))
        for x in (0, stride - 1):  # the columns beside them, clamped
            line[x] = _pixel_word(source, start + np.uint64(3 * min(max(origin_x + x, 0), width - 1)))
    across_u = np.empty(columns)
    across_v = np.empty(columns)
    for x in range(columns):
        across_u[x] = a * (x + 0.5)
        across_v[x] = d * (x + 0.5)
    weight_x = np.empty(columns)
    weight_y = np.empty(columns)
    index = np.empty(columns, np.uint64)
    inside = np.empty(columns, np.uint8)
    upper = np.empty(columns, np.uint64)  # the top-left and top-right neighbours of each output pixel
    lower = np.empty(columns, np.uint64)  # the bottom ones
    length = np.uint64(3 * columns)
    target = out.reshape(-1)
    for y in range(rows):
        down_u = b * (y + 0.5)
        down_v = e * (y + 0.5)
        for x in range(columns):
            u = across_u[x] + down_u + c
            v = across_v[x] + down_v + f
            inside[x] = (u >= 0.0) & (u < width) & (v >= 0.0) & (v < height)
            # outside the image only the black counts: keep the position near (finite, not NaN) for the gather
            u = (u if u >= 0.0 else 0.0) if u <= width else float(width)
            v = (v if v >= 0.0 else 0.0) if v <= height else float(height)
            u -= 0.5
            v -= 0.5
            column = np.floor(u)
            row = np.floor(v)
            weight_x[x] = u - column
            weight_y[x] = v - row
            index[x] = np.uint64((np.int64(row) - origin_y) * stride + np.int64(column) - origin_x)
        for x in range(columns):
            at = index[x]
            upper[x] = np.uint64(packed[at]) | (np.uint64(packed[at + np.uint64(1)]) << np.uint64(32))
            below = at + np.uint64(stride)
            lower[x] = np.uint64(packed[below]) | (np.uint64(packed[below + np.uint64(1)]) << np.uint64(32))
        line = target[np.uint64(y) * length : np.uint64(y + 1) * length]
        for x in range(np.uint64(columns)):  # a pixel's three channels together, stored in place (8 % faster
            top, bottom = upper[x], lower[x]  # than a pass per channel and one to interleave them)
            across, down, keep = weight_x[x], weight_y[x], inside[x]
            for channel in range(3):
                left_shift = np.uint64(8 * channel)
                right_shift = np.uint64(8 * channel + 32)
                p = np.float64((top >> left_shift) & np.uint64(255))
                high = p + (np.float64((top >> right_shift) & np.uint64(255)) - p) * across
                p = np.float64((bottom >> left_shift) & np.uint64(255))
                low = p + (np.float64((bottom >> right_shift) & np.uint64(255)) - p) * across
                line[np.uint64(3) * x + np.uint64(channel)] = np.uint8(high + (low - high) * down) * keep


@_signature(types.void(_IMAGE, _OUT, f64, i64))
def shear_lines(image, out, factor, axis):
    """``ops._shear`` (the row-run shear of images above ``ops.SMALL_PIXELS``): each line (a row for shear_x,
    ``axis`` 1; a column for shear_y, ``axis`` 0) has one shift ``factor·(i + ½)`` in float64, its whole part,
    and its fraction rounded to float32; a value is ``(right − left)·fraction + left`` in float32 from the
    edge-clamped neighbours, truncated; a line shifted by its length or more is black, and so are the values
    outside ``[⌈−½ − shift⌉, ⌈length − ½ − shift⌉)``, as there.

    Along a row of shear_x the two neighbours of every value are two runs of the same row, and in shear_y a
    run of columns with one whole shift reads two whole rows: the loops run over those contiguous values."""
    if image.shape[2] != 3 or out.shape != image.shape:
        raise ValueError("shear_lines takes an H×W×3 image and an output of its shape")
    height, width = image.shape[0], image.shape[1]
    if height == 0 or width == 0:  # (``out`` is as empty)
        return
    lines = height if axis == 1 else width
    length = width if axis == 1 else height
    whole = np.empty(lines, np.int64)
    fraction = np.empty(lines, np.float32)
    first = np.empty(lines, np.int64)
    stop = np.empty(lines, np.int64)
    for i in range(lines):
        shift = factor * (i + 0.5)
        floor = math.floor(shift)
        whole[i] = floor
        fraction[i] = np.float32(shift - floor)
        low = max(math.ceil(-0.5 - shift), 0)
        high = min(math.ceil((length - 0.5) - shift), length)
        if not -length <= floor < length:  # the whole line is black
            low, high = 0, 0
        first[i] = low
        stop[i] = max(high, low)
    source = image.reshape(-1)
    target = out.reshape(-1)
    if axis == 1:
        target[:] = 0  # (shear_y writes every value)
        for y in range(height):
            row = y * width * 3
            weight = fraction[y]
            begin, end = first[y], stop[y]
            # where both neighbours lie inside the row, they are the values 3·whole and 3·whole + 3 further on
            inner_begin = min(max(begin, -whole[y]), end)
            inner_end = max(min(end, width - 1 - whole[y]), inner_begin)
            if inner_end > inner_begin:
                near = row + 3 * (inner_begin + whole[y])
                count = 3 * (inner_end - inner_begin)
                lefts = source[near : near + count]
                rights = source[near + 3 : near + 3 + count]
                values = target[row + 3 * inner_begin : row + 3 * inner_end]
                for j in range(count):
                    p = np.float32(lefts[j])
                    values[j] = np.uint8((np.float32(rights[j]) - p) * weight + p)
            for edge in range(2):  # the values before the inner run and after it
                for x in range(begin if edge == 0 else inner_end, inner_begin if edge == 0 else end):
                    left = min(max(whole[y] + x, 0), width - 1)
                    right = min(max(whole[y] + x + 1, 0), width - 1)
                    for channel in range(3):
                        p = np.float32(source[row + 3 * left + channel])
                        q = np.float32(source[row + 3 * right + channel])
                        target[row + 3 * x + channel] = np.uint8((q - p) * weight + p)
    else:
        weights = np.empty(3 * width, np.float32)
        lows = np.empty(3 * width, np.int64)
        highs = np.empty(3 * width, np.int64)
        for x in range(width):
            for channel in range(3):
                weights[3 * x + channel] = fraction[x]
                lows[3 * x + channel] = first[x]
                highs[3 * x + channel] = stop[x]
        start = 0
        while start < width:  # runs of columns with the same whole shift
            end = start + 1
            while end < width and whole[end] == whole[start]:
                end += 1
            count = 3 * (end - start)
            # the rows where every value of the run lies inside the image need no mask
            inside_from, inside_to = 0, height
            for j in range(3 * start, 3 * end):
                inside_from, inside_to = max(inside_from, lows[j]), min(inside_to, highs[j])
            # whole vectors of 16 values (LLVM's scalar remainder loop cost more than the run itself): the values
            # past the run belong to the next runs, which are done later and write them again
            count = min(count + (-count) % 16, 3 * (width - start))
            run_weights = weights[3 * start : 3 * start + count]
            run_lows = lows[3 * start : 3 * start + count]
            run_highs = highs[3 * start : 3 * start + count]
            for y in range(height):
                top = (min(max(y + whole[start], 0), height - 1) * width + start) * 3
                bottom = (min(max(y + whole[start] + 1, 0), height - 1) * width + start) * 3
                row = (y * width + start) * 3
                uppers = source[top : top + count]
                lowers = source[bottom : bottom + count]
                values = target[row : row + count]
                if inside_from <= y < inside_to:
                    for j in range(count):
                        p = np.float32(uppers[j])
                        values[j] = np.uint8((np.float32(lowers[j]) - p) * run_weights[j] + p)
                    continue
                for j in range(count):
                    p = np.float32(uppers[j])
                    value = np.uint8((np.float32(lowers[j]) - p) * run_weights[j] + p)
                    values[j] = value * np.uint8((y >= run_lows[j]) & (y < run_highs[j]))
            start = end


@_signature(types.void(_IMAGE, _OUT))
def mirror(image, out):
    """``image[:, ::-1]`` (``ops._mirror``). On flat rows with unsigned offsets: a signed index that LLVM cannot
    prove non-negative gets numba's wrap-around test, which keeps the loop from running on whole vectors (13×
    slower)."""
    if image.shape[2] != 3 or out.shape != image.shape:
        raise ValueError("mirror takes an H×W×3 image and an output of its shape")
    length = np.uint64(3 * image.shape[1])
    source, target = image.reshape(-1), out.reshape(-1)
    three = np.uint64(3)
    for y in range(image.shape[0]):
        begin = np.uint64(y) * length
        last = begin + length - three  # the row's last pixel
        for x in range(np.uint64(image.shape[1])):
            read, write = last - three * x, begin + three * x
            target[write] = source[read]
            target[write + np.uint64(1)] = source[read + np.uint64(1)]
            target[write + np.uint64(2)] = source[read + np.uint64(2)]


# --- tone: histograms and lookup tables ----------------------------------------------------------------

EQUALIZE = 0
AUTOCONTRAST = 1


@_signature(types.void(_IMAGE, _ANY_OUT, i64, i64, i64, i64))
def tone(image, out, top, left, kind, cut):
    """Pillow's ``ImageOps.equalize`` (``kind`` 0) or ``autocontrast`` (``kind`` 1, ``cut`` pixels removed
    from each end of each channel's histogram) of ``image``, for the box of ``out``'s size at (``left``,
    ``top``): the lookup tables come from the whole image's histogram, as ``ops._equalize_lut`` and
    ``ops._autocontrast_lut`` compute them."""
    if not (
        image.shape[2] == 3
        and out.shape[2] == 3
        and 0 <= top <= image.shape[0] - out.shape[0]
        and 0 <= left <= image.shape[1] - out.shape[1]
    ):
        raise ValueError("tone takes an H×W×3 image and an output box inside it")
    height, width = image.shape[0], image.shape[1]
    count = height * width
    source = image.reshape(-1)
    # two histograms per channel, for even and odd pixels: neighbours often share a value, and one counter
    # incremented twice in a row waits for its own store
    halves = np.zeros((2, 3, 256), np.int64)
    pairs = count // 2
    for i in range(pairs):
        j = 6 * i
        halves[0, 0, source[j]] += 1
        halves[0, 1, source[j + 1]] += 1
        halves[0, 2, source[j + 2]] += 1
        halves[1, 0, source[j + 3]] += 1
        halves[1, 1, source[j + 4]] += 1
        halves[1, 2, source[j + 5]] += 1
    if count % 2:
        for channel in range(3):
            halves[0, channel, source[3 * (count - 1) + channel]] += 1
    hist = halves[0] + halves[1]
    lut = np.empty((3, 256), np.uint8)
    for channel in range(3):
        for i in range(256):
            lut[channel, i] = i
        if kind == EQUALIZE:
            last = 255
            while hist[channel, last] == 0:
                last -= 1
            step = (count - hist[channel, last]) // 255
            if step == 0:
                continue
            below = step // 2
            for i in range(256):
                lut[channel, i] = min(below // step, 255)
                below += hist[channel, i]
        else:
            low = 0
            total = 0
            for i in range(256):
                total += hist[channel, i]
                if total > cut:
                    low = i
                    break
            high = 255
            total = 0
            for i in range(255, -1, -1):
                total += hist[channel, i]
                if total > cut:
                    high = i
                    break
            if high <= low or count <= cut:
                continue
            scale = 255.0 / (high - low)
            offset = -low * scale
            for i in range(256):
                value = i * scale + offset
                value = min(max(value, 0.0), 255.0)
                lut[channel, i] = np.uint8(value)
    flat_lut = lut.reshape(-1)
    columns = out.shape[1]
    for y in range(out.shape[0]):
        row = source[((top + y) * width + left) * 3 : ((top + y) * width + left + columns) * 3]
        for x in range(columns):
            out[y, x, 0] = flat_lut[row[3 * x]]
            out[y, x, 1] = flat_lut[256 + row[3 * x + 1]]
            out[y, x, 2] = flat_lut[512 + row[3 * x + 2]]


# --- patch mixes --------------------------------------------------------------------------------------

ADD_WRAP = 0
ADD_CLIP = 1
MULTIPLY_CLIP = 2
MULTIPLY_WRAP = 3  # float32 tables, float32 products


@_signature(types.void(_ANY_OUT, _ANY_IMAGE, _TABLE, _TABLE, i64))
def mix_patch(target, source, table_a, table_b, kind):
    """``target`` ← the mix of ``target`` and ``source`` (same shape) from 256-entry tables, converted to bytes,
    as ``mixing._add``, ``_multiply`` and ``_multiply_wrap`` do:

    - ``ADD_WRAP``: ``T_a[a] + T_b[b]`` in float64, truncated to int16, then its low byte;
    - ``ADD_CLIP`` / ``MULTIPLY_CLIP``: the sum / product in float64, clipped to [0, 255], rounded half to even;
    - ``MULTIPLY_WRAP``: the tables hold float32 values; their product rounded to float32, times 127.5 rounded
      to float32 (each float64 product of float32 values is exact, so rounding it once is float32's
      multiplication), truncated to int64, then its low byte.
    """
    if target.shape != source.shape or target.shape[2] != 3 or table_a.shape[0] < 256 or table_b.shape[0] < 256:
        raise ValueError("mix_patch takes two H×W×3 patches of one shape and 256-entry tables")
    for y in range(target.shape[0]):
        for x in range(target.shape[1]):
            for channel in range(3):
                a = table_a[target[y, x, channel]]
                b = table_b[source[y, x, channel]]
                if kind == ADD_WRAP:
                    target[y, x, channel] = np.uint8(np.int16(a + b))
                elif kind == MULTIPLY_WRAP:
                    product = np.float32(a * b)
                    scaled = np.float32(np.float64(product) * 127.5)
                    target[y, x, channel] = np.uint8(np.int64(scaled))
                else:
                    value = a + b if kind == ADD_CLIP else a * b
                    value = min(max(value, 0.0), 255.0)
                    target[y, x, channel] = np.uint8(np.rint(value))


@_signature(types.void(_ANY_OUT, _ANY_IMAGE, _TABLE, f64, f64, i64))
def add_patch(target, source, centred, alpha, gamma, kind):
    """``mixing._add`` without its two tables: ``(C[a]·α + 127.5) + C[b]·γ`` per value (``C`` = 255·(2v − 1)/2,
    the same float64 products and sums the tables hold), converted as ``mix_patch`` converts ``ADD_WRAP`` and
    ``ADD_CLIP``. On a small patch, making the tables cost more than the patch."""
    if target.shape != source.shape or target.shape[2] != 3 or centred.shape[0] < 256:
        raise ValueError("add_patch takes two H×W×3 patches of one shape and a 256-entry table")
    for y in range(target.shape[0]):
        for x in range(target.shape[1]):
            for channel in range(3):
                value = (centred[target[y, x, channel]] * alpha + 127.5) + centred[source[y, x, channel]] * gamma
                if kind == ADD_WRAP:
                    target[y, x, channel] = np.uint8(np.int16(value))
                else:
                    value = min(max(value, 0.0), 255.0)
                    target[y, x, channel] = np.uint8(np.rint(value))


_LANE_STATES = types.Array(types.uint64, 1, "C")
_LOW32 = np.uint64(0xFFFFFFFF)


@numba.njit(types.UniTuple(u64, 2)(u64, u64, u64, u64), cache=True, nogil=True, inline="always")
def _product128(high, low, multiplier_high, multiplier_low):
    """(``high``, ``low``)·(``multiplier_high``, ``multiplier_low``) mod 2¹²⁸ as (high, low) 64-bit halves, from
    32-bit pieces: integer arithmetic that LLVM runs on whole vectors of lanes (a native 128-bit product does
    not vectorise)."""
    a0, a1 = low & _LOW32, low >> np.uint64(32)
    b0, b1 = multiplier_low & _LOW32, multiplier_low >> np.uint64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> np.uint64(32)) + (p01 & _LOW32) + (p10 & _LOW32)
    product_low = (middle << np.uint64(32)) | (p00 & _LOW32)
    product_high = p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (middle >> np.uint64(32))
    return product_high + high * multiplier_low + low * multiplier_high, product_low


@numba.njit(types.void(u64, u64, _CONSTANTS, _LANE_STATES, _LANE_STATES), cache=True, nogil=True, inline="always")
def _first_lanes(high, low, constants, highs, lows):
    """The states of the ``MASK_LANES`` lanes of a mask stream that starts at (``high``, ``low``)
    (``seeding.mask_state``; ``constants`` is ``seeding.MASK_CONSTANTS``): lane j after j + 1 steps."""
    for lane in range(highs.shape[0]):
        high, product_low = _product128(high, low, constants[0], constants[1])
        low = product_low + constants[3]
        high += constants[2] + np.uint64(low < product_low)  # the carry of the low half
        highs[lane], lows[lane] = high, low


@numba.njit(
    types.void(_LANE_STATES, _LANE_STATES, _CONSTANTS, _FLOATS_OUT, i64), cache=True, nogil=True, inline="always"
)
def _next_uniforms(highs, lows, constants, out, at):
    """The stream's next 2·``MASK_LANES`` float32 uniforms into ``out[at:]``, the lanes advanced. As numpy's
    ``Generator.random(dtype=float32)`` on PCG64: each 64-bit output (PCG64's XSL-RR of the state) gives two
    values, its low 32 bits first, each ``(bits >> 8)·2⁻²⁴``. Lane j holds output j of the group and jumps
    ``MASK_LANES`` steps at a time, so that the lanes are independent and the loop runs on whole vectors."""
    jump_high, jump_low, add_high, add_low = constants[4], constants[5], constants[6], constants[7]
    scale = np.float32(1.0 / 16777216.0)
    block = out[at : at + 2 * highs.shape[0]]
    for lane in range(highs.shape[0]):
        high, low = highs[lane], lows[lane]
        mixed = high ^ low
        rotation = high >> np.uint64(58)
        word = (mixed >> rotation) | (mixed << ((np.uint64(64) - rotation) & np.uint64(63)))
        block[2 * lane] = np.float32(np.uint32((word & _LOW32) >> np.uint64(8))) * scale
        block[2 * lane + 1] = np.float32(np.uint32(word >> np.uint64(40))) * scale
        high, product_low = _product128(high, low, jump_high, jump_low)
        low = product_low + add_low
        highs[lane], lows[lane] = high + add_high + np.uint64(low < product_low), low


@_signature(types.void(u64, u64, _CONSTANTS, _FLOATS_OUT))
def mask_uniforms(high, low, constants, out):
    """``seeding.mask_uniforms`` (flat): the float32 uniforms of the mask stream that starts at (``high``,
    ``low``) (``seeding.mask_state``), advanced with ``constants`` (``seeding.MASK_CONSTANTS``)."""
    if constants.shape[0] < 8:
        raise ValueError("mask_uniforms takes seeding.MASK_CONSTANTS")
    highs, lows = np.empty(MASK_LANES, np.uint64), np.empty(MASK_LANES, np.uint64)
    _first_lanes(high, low, constants, highs, lows)
    group = 2 * MASK_LANES
    block = np.empty(group, np.float32)
    for begin in range(0, out.shape[0], group):
        _next_uniforms(highs, lows, constants, block, 0)
        for i in range(min(group, out.shape[0] - begin)):
            out[begin + i] = block[i]


@_signature(types.boolean(_OUT, i64, i64, _IMAGE, i64, i64, i64, i64, u64, u64, _CONSTANTS, f32, i64))
def select_masked(
    target, top, left, source, source_top, source_left, rows, columns, high, low, constants, q, per_value
):
    """The box ``rows``×``columns`` of ``target`` at (``left``, ``top``) ← itself where ``u < q`` else the box of
    ``source`` at (``source_left``, ``source_top``) (``mixing._random_pixels`` / ``_random_elems``), with the
    mask's uniforms (``mask_uniforms``' values, in their order) made a row at a time: one per pixel, or
    (``per_value``) one per channel value. Whole images and a box, not views, so that a row is a contiguous run
    of bytes and the selection runs on whole vectors (as bytes: all ones where kept). False, with nothing
    done, when a box does not lie inside its image or an image does not have three channels (checked here,
    where it costs nothing: the loops below index unchecked)."""
    if not (
        0 < rows
        and 0 < columns
        and 0 <= top <= target.shape[0] - rows
        and 0 <= left <= target.shape[1] - columns
        and 0 <= source_top <= source.shape[0] - rows
        and 0 <= source_left <= source.shape[1] - columns
        and target.shape[2] == 3
        and source.shape[2] == 3
        and constants.shape[0] >= 8
    ):
        return False
    highs, lows = np.empty(MASK_LANES, np.uint64), np.empty(MASK_LANES, np.uint64)
    _first_lanes(high, low, constants, highs, lows)
    group = 2 * MASK_LANES
    length = 3 * columns
    needed = length if per_value else columns
    uniforms = np.empty(needed + 2 * group, np.float32)
    keep = np.empty(length, np.uint8)
    made = 0  # uniforms made and not yet used, at the start of ``uniforms``
    target_flat, source_flat = target.reshape(-1), source.reshape(-1)
    target_row, source_row = 3 * target.shape[1], 3 * source.shape[1]
    for y in range(rows):
        while made < needed:
            _next_uniforms(highs, lows, constants, uniforms, made)
            made += group
        if per_value:
            for i in range(length):
                keep[i] = np.uint8(0) - np.uint8(uniforms[i] < q)
        else:
            for x in range(columns):
                mask = np.uint8(0) - np.uint8(uniforms[x] < q)
                keep[3 * x], keep[3 * x + 1], keep[3 * x + 2] = mask, mask, mask
        begin = (top + y) * target_row + 3 * left
        kept = target_flat[begin : begin + length]
        begin = (source_top + y) * source_row + 3 * source_left
        taken = source_flat[begin : begin + length]
        for i in range(length):
            kept[i] = (kept[i] & keep[i]) | (taken[i] & ~keep[i])
        made -= needed
        for i in range(made):
            uniforms[i] = uniforms[needed + i]

    return True


# --- the final blend ----------------------------------------------------------------------------------


@_signature(types.void(_FLAT, f32, _FLAT, f32, _FLAT, f32, _FLAT, f32, i64, _FLAT_OUT))
def blend(image, w0, a, wa, b, wb, c, wc, terms, out):
    """``blend.blend`` for one to three chains in one pass: ``w₀·x + ½ + Σ wᵢ·chainᵢ`` in float32, added in
    that order, truncated (``terms`` says how many of ``a``, ``b``, ``c`` count)."""
    count = image.shape[0]
    if not (a.shape[0] == b.shape[0] == c.shape[0] == out.shape[0] == count and 1 <= terms <= 3):
        raise ValueError("blend takes images and an output of one size, and one to three terms")
    half = np.float32(0.5)
    if terms == 1:
        for i in range(image.shape[0]):
            out[i] = np.uint8(np.float32(image[i]) * w0 + half + np.float32(a[i]) * wa)
    elif terms == 2:
        for i in range(image.shape[0]):
            out[i] = np.uint8(np.float32(image[i]) * w0 + half + np.float32(a[i]) * wa + np.float32(b[i]) * wb)
    else:
        for i in range(image.shape[0]):
            total = np.float32(image[i]) * w0 + half + np.float32(a[i]) * wa + np.float32(b[i]) * wb
            out[i] = np.uint8(total + np.float32(c[i]) * wc)


# --- PixMix's rounds in float32 ------------------------------------------------------------------------
#
# ``mixing.mix_float`` in float32, operation for operation. A byte operand's term, ``x = byte/255`` (``to_float``:
# float32's correctly rounded division), is computed where it is used when that takes arithmetic alone (add),
# so that the loop runs on whole vectors; a term that is a power (multiply) comes from a 256-entry table, read
# one value at a time (LLVM does not vectorise a gather from an array that may share memory with the output).

PIXMIX_ADD = 0
PIXMIX_MULTIPLY = 1


@_signature(types.void(_FLAT, _FLAT, f32, f32, _TABLE32, _TABLE32, i64, _FLOATS_OUT))
def pixmix_first(start, source, alpha, gamma, image_powers, source_powers, kind, out):
    """PixMix's first round (``mixing.mix_float`` of ``to_float(start)``), whose image is still bytes: ``add`` is
    ``(((2a − 1)·α + (2s − 1)·γ) + 1)·½``; ``multiply`` is ``(P_a[a]·P_s[s])·½`` from the tables of
    ``(2a)^α`` and ``max(2s, 1e−37)^γ``; then clipped to [0, 1]."""
    if not (
        source.shape[0] == out.shape[0] == start.shape[0]
        and (kind == PIXMIX_ADD or (image_powers.shape[0] >= 256 and source_powers.shape[0] >= 256))
    ):
        raise ValueError("pixmix_first takes arrays of one size and 256-entry tables")
    half, one, zero, two, full = np.float32(0.5), np.float32(1), np.float32(0), np.float32(2), np.float32(255)
    if kind == PIXMIX_ADD:
        for i in range(start.shape[0]):
            image_term = ((np.float32(start[i]) / full) * two - one) * alpha
            source_term = ((np.float32(source[i]) / full) * two - one) * gamma
            value = ((image_term + source_term) + one) * half
            value = one if value > one else value
            out[i] = zero if value < zero else value
    else:
        for i in range(start.shape[0]):
            value = (image_powers[start[i]] * source_powers[source[i]]) * half
            out[i] = max(min(value, one), zero)  # (a scalar loop: min and max do not branch)


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose bit pattern is the int64 ``bits`` (a power of two made from its exponent)."""

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _fused(typingctx, a, b, c):
    """``a·b + c`` rounded once (IEEE fused multiply-add; a correctly rounded function, so the same on every
    machine: with the FMA instruction, or libm's ``fma`` without it)."""

    def codegen(context, builder, signature, arguments):
        return builder.fma(*arguments)

    return types.float64(types.float64, types.float64, types.float64), codegen


_SQRT2 = math.sqrt(2.0)
_TWO_OVER_LN2 = 2 / math.log(2)
_LN2 = math.log(2)
#: 1/(2k + 1) for k = 7 … 0: the series of ``atanh``, highest term first.
_ATANH = tuple(1 / (2 * k + 1) for k in range(7, -1, -1))
#: 1/k! for k = 11 … 0: the series of ``exp``, highest term first.
_EXP = tuple(1 / math.factorial(k) for k in range(11, -1, -1))
#: A power within this relative distance of a float32 rounding boundary is left to numpy (see pixmix_round).
_NEAR = 2.0**-38
_BLOCK = 512


@_signature(types.UniTuple(i64, 2)(_FLOATS_OUT, _FLAT, f32, f32, _TABLE32, i64, i64, _INDICES))
def pixmix_round(mixed, source, alpha, gamma, source_powers, kind, start, doubtful):
    """A later PixMix round (``mixing.mix_float``) of the float32 image ``mixed``, in place (a multiply from value
    ``start`` on): ``add`` as in ``pixmix_first``, from ``2x − 1``; ``multiply`` is ``(P(x)·P_s[s])·½`` where
    ``P(x)`` is ``(2x)^α`` rounded to float32, which the reference path takes from numpy's float64 ``pow``.

    The power here, in float64 with no table (so that it runs on whole vectors): ``2x = 2^e·m`` from the bits of
    ``x``, ``m`` in [√½, √2); ``log₂ m = (2/ln 2)·atanh(r)``, ``r = (m − 1)/(m + 1)``, ``|r| ≤ 0.1716`` (the series
    to ``r¹⁵``: the terms left out add up to less than 2⁻⁴⁵·⁷); ``y = α·(e + log₂ m)``, within 2⁻⁴⁴·⁵ as
    ``α ≤ 2`` and ``|y| ≤ 250`` (held at −200 or above: the float32 of a smaller power is 0 either way);
    ``2^y = 2^n·exp(z)``, ``n`` whole, ``z = (y − n)·ln 2``, ``|z| ≤ 0.347`` (the series to ``z¹¹``, relative error
    below 2⁻⁴⁶·⁶); the series' steps fused multiply-adds. Its relative error is below 2⁻⁴³ (``pixmix_round`` is
    checked against numpy on every mantissa in ``tests/test_kernels_pixmix.py``), and numpy's (SVML or libm)
    below 2⁻⁵¹: where the power lies farther than 2⁻³⁸
    (relative) from the midpoint between two float32 values, both round to the same float32. Nearer (about
    one value in 10,000), or from a subnormal ``x`` (or a NaN or infinity, never made here), the kernel cannot
    tell: it leaves the value as it was and records its index in ``doubtful``, for the caller to compute as the
    reference path does. When ``doubtful`` is full it stops before the block that would overflow it. Returns
    (indices recorded, where it stopped: the size when done). Everything after the power in float32, as there.

    In blocks: the powers of a block on whole vectors, the source's terms from its table one at a time, then
    the rest on whole vectors."""
    if not (
        source.shape[0] == mixed.shape[0]
        and 0 <= start <= mixed.shape[0]
        and (kind == PIXMIX_ADD or (source_powers.shape[0] >= 256 and doubtful.shape[0] >= _BLOCK))
    ):
        raise ValueError("pixmix_round takes arrays of one size, a 256-entry table and room for a block")
    half, one, zero, two, full = np.float32(0.5), np.float32(1), np.float32(0), np.float32(2), np.float32(255)
    count = mixed.shape[0]
    if kind == PIXMIX_ADD:  # (whole: an add leaves nothing to numpy; ``range(count)`` runs on whole vectors)
        for i in range(count):
            source_term = ((np.float32(source[i]) / full) * two - one) * gamma
            value = (((mixed[i] * two - one) * alpha + source_term) + one) * half
            value = one if value > one else value
            mixed[i] = zero if value < zero else value
        return 0, count
    bits = mixed.view(np.uint32)
    exponent = np.float64(alpha)
    powers = np.empty(_BLOCK, np.float32)
    terms = np.empty(_BLOCK, np.float32)
    near = np.empty(_BLOCK, np.uint8)
    found = 0
    for begin in range(start, count, _BLOCK):
        size = min(_BLOCK, count - begin)
        flagged = 0
        for j in range(size):
            word = bits[begin + j]
            biased = np.int64((word >> 23) & 255)  # x's exponent field: 2x = 2^(biased − 126)·m
            fraction = word & 0x7FFFFF
            m = 1.0 + np.float64(fraction) * (1.0 / 8388608.0)
            e = np.float64(biased - 126)
            high = m > _SQRT2
            m = m * 0.5 if high else m
            e = e + 1.0 if high else e
            r = (m - 1.0) / (m + 1.0)
            r2 = r * r
            series = _ATANH[0]
            for coefficient in _ATANH[1:]:
                series = _fused(r2, series, coefficient)
            y = exponent * _fused(r * _TWO_OVER_LN2, series, e)
            y = y if y > -200.0 else -200.0
            steps = math.floor(y + 0.5)
            z = (y - steps) * _LN2
            series = _EXP[0]
            for coefficient in _EXP[1:]:
                series = _fused(z, series, coefficient)
            power = series * _float64_from_bits((np.int64(steps) + 1023) << 52)
            power = 0.0 if biased == 0 else power  # x = 0 (or subnormal, flagged below)
            below = np.float32(power * (1.0 - _NEAR))  # when it is the float32 above too, it is power's
            unsure = (below != np.float32(power * (1.0 + _NEAR))) | ((biased == 0) & (fraction != 0)) | (biased == 255)
            powers[j] = below
            near[j] = unsure
            flagged += unsure
        if found + flagged > doubtful.shape[0]:
            return found, begin  # the caller makes room and goes on from this block
        for j in range(size):  # the source's terms gathered alone, so that the next loop runs on whole vectors
            terms[j] = source_powers[source[begin + j]]
        block = mixed[begin : begin + size]  # (a view: indexed from 0, the loop is vectorised)
        for j in range(size):
            value = (powers[j] * terms[j]) * half
            value = max(min(value, one), zero)
            block[j] = block[j] if near[j] else value
        if flagged:
            for j in range(size):
                if near[j]:
                    doubtful[found] = begin + j
                    found += 1
    return found, count


@_signature(types.void(_FLOATS, _FLAT_OUT))
def float_to_bytes(mixed, out):
    """``mixing.to_bytes``: ``⌊255·x + ½⌋`` in float32."""
    if out.shape[0] != mixed.shape[0]:
        raise ValueError("float_to_bytes takes arrays of one size")
    scale, half = np.float32(255), np.float32(0.5)
    for i in range(mixed.shape[0]):
        out[i] = np.uint8(mixed[i] * scale + half)


@_signature(types.void(_FLOATS_OUT, _FLAT, f32))
def blend_add(total, chain, weight):
    """``blend._add_term``: ``total += float32(chain)·w``, the product rounded to float32 first."""
    if chain.shape[0] != total.shape[0]:
        raise ValueError("blend_add takes arrays of one size")
    for i in range(total.shape[0]):
        total[i] = total[i] + np.float32(chain[i]) * weight


# --- the fractal generator's IFS pictures (``mixsets/fractals.py``) --------------------------------------------

_SLOTS = types.Array(types.int16, 2, "C", readonly=True)
_MAP_TABLE = types.Array(types.intp, 1, "C", readonly=True)
_BY_COLUMN = types.Array(types.float32, 2, "C", readonly=True)
_PICKS = types.Array(types.int64, 1, "C", readonly=True)
_POINTS_OUT = types.Array(types.float32, 2, "C")


@_signature(types.void(f32, f32, _SLOTS, _PICKS, _SLOTS, _MAP_TABLE, _BY_COLUMN, _POINTS_OUT, _POINTS_OUT))
def ifs_walk(start_x, start_y, warm_slots, picks, slots, table, by_column, out_x, out_y):
    """``fractals.chaos_game``'s walk: warm-up walkers from (``start_x``, ``start_y``), one step per row of
    ``warm_slots``; the walkers picked from them (``picks``); then one step per row of ``slots``, each row's
    points into that row of ``out_x`` and ``out_y``. A step of a walker at (x, y) by map ``table[slot]`` with
    coefficients (a, b, c, d, e, f) (``by_column``'s columns) is ``x' = (a·x + b·y) + e``,
    ``y' = (c·x + d·y) + f``, every product and sum rounded to float32, as numpy's passes round them."""
    warm = warm_slots.shape[1]
    x = np.empty(warm, np.float32)
    y = np.empty(warm, np.float32)
    x[:] = start_x
    y[:] = start_y
    for step in range(warm_slots.shape[0]):
        for i in range(warm):
            k = table[warm_slots[step, i]]
            new_x = (by_column[0, k] * x[i] + by_column[1, k] * y[i]) + by_column[4, k]
            y[i] = (by_column[2, k] * x[i] + by_column[3, k] * y[i]) + by_column[5, k]
            x[i] = new_x
    walkers = slots.shape[1]
    for i in range(walkers):
        out_x[0, i] = x[picks[i]]
        out_y[0, i] = y[picks[i]]
    for step in range(slots.shape[0]):
        before = max(step - 1, 0)  # the first step starts from the picked walkers, held in row 0 for now
        for i in range(walkers):
            k = table[slots[step, i]]
            px, py = out_x[before, i], out_y[before, i]
            out_x[step, i] = (by_column[0, k] * px + by_column[1, k] * py) + by_column[4, k]
            out_y[step, i] = (by_column[2, k] * px + by_column[3, k] * py) + by_column[5, k]


@_signature(types.void(_FLOATS, _FLOATS, f32, f32, f32, f32, i64, types.Array(types.int64, 1, "C")))
def ifs_density(x, y, centre_x, centre_y, scale, middle, size, counts):
    """``fractals.density``'s counts: each point's column ``int32((x − centre_x)·scale + middle)`` (float32
    operations, truncated) and row likewise, clipped to the canvas, counted in ``counts`` (size², zeroed)."""
    last = size - 1
    for i in range(x.shape[0]):
        column = np.int32((x[i] - centre_x) * scale + middle)
        row = np.int32((y[i] - centre_y) * scale + middle)
        column = min(max(column, 0), last)
        row = min(max(row, 0), last)
        counts[row * size + column] += 1


@_signature(types.void(types.Array(types.int64, 1, "C", readonly=True), _IMAGE, _FLAT, _IMAGE, _OUT))
def ifs_colour(counts, colours, opacity, background, out):
    """``fractals.colourise``'s composite: each pixel's colour ``colours[count]`` over the background with opacity
    ``opacity[count]``, as Pillow's ``Image.composite`` blends (``paste`` through an "L" mask): ``(bg·(255 − a) +
    fg·a + 128)``, divided by 255 as ``(t + (t >> 8)) >> 8``. ``colours`` is (top + 1)×1×3."""
    flat = out.reshape(-1)
    back = background.reshape(-1)
    for p in range(counts.shape[0]):
        count = counts[p]
        alpha = np.int32(opacity[count])
        for channel in range(3):
            total = np.int32(back[3 * p + channel]) * (255 - alpha) + np.int32(colours[count, 0, channel]) * alpha + 128
            flat[3 * p + channel] = np.uint8(((total >> 8) + total) >> 8)


# --- the mixing picture's scale and cut (``mixsets/mixing_set.py``) -------------------------------------------

_PRECISION_BITS = 22  # Pillow's fixed-point weights: 32 − 8 − 2 bits


_COUNTS = types.Array(types.int64, 1, "C")
_WEIGHTS = types.Array(types.float64, 2, "C")


@numba.njit(types.void(i64, i64, i64, i64, _COUNTS, _COUNTS, _WEIGHTS), cache=True, nogil=True, error_model="numpy")
def _bilinear_weights(source, scaled, first, count, starts, sizes, weights):
    """Pillow's ``precompute_coeffs`` for BILINEAR (``Resample.c``) along one axis, for the outputs ``first`` to
    ``first + count`` of ``source`` values resized to ``scaled``, with ``normalize_coeffs_8bpc``'s fixed point:
    the first input each output reads (``starts``), how many (``sizes``), and their weights (rows of
    ``weights``), in float64 operations in Pillow's order."""
    scale = np.float64(np.float32(source)) / scaled  # (in1 − in0) in C float, then double
    filterscale = scale if scale >= 1.0 else 1.0
    support = 1.0 * filterscale
    for i in range(count):
        center = 0.0 + (first + i + 0.5) * scale
        ss = 1.0 / filterscale
        low = np.int64(center - support + 0.5)
        low = max(low, 0)
        high = np.int64(center + support + 0.5)
        high = min(high, source)
        high -= low
        total = 0.0
        for x in range(high):
            w = ((np.float64(x + low) - center) + 0.5) * ss
            w = -w if w < 0.0 else w
            w = 1.0 - w if w < 1.0 else 0.0
            weights[i, x] = w
            total += w
        for x in range(high):
            value = weights[i, x] / total if total != 0.0 else weights[i, x]
            weights[i, x] = (
                np.int64(0.5 + value * (1 << _PRECISION_BITS))
                if value >= 0
                else np.int64(-0.5 + value * (1 << _PRECISION_BITS))
            )
        starts[i] = low
        sizes[i] = high


@numba.njit(types.uint8(types.int64), cache=True, nogil=True, inline="always")
def _clip8(total):
    """Pillow's ``clip8``: the sum's integer part (an arithmetic shift), clamped to a byte."""
    value = total >> _PRECISION_BITS
    return np.uint8(0 if value < 0 else (255 if value > 255 else value))


@numba.njit(
    types.Tuple((_COUNTS, _COUNTS, _WEIGHTS, i64, i64))(i64, i64, i64, i64, types.boolean),
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _axis_weights(source, scaled, first, count, resample):
    """Where the outputs ``first`` to ``first + count`` of one axis read (start, size and 22-bit weights; when
    ``resample`` is False the axis keeps its size and output i reads input i alone) and the span of inputs
    they read together."""
    reach = np.int64(max(source / scaled, 1.0) * 2 + 3)  # more than Pillow's ksize
    starts = np.empty(count, np.int64)
    sizes = np.ones(count, np.int64)
    weights = np.zeros((count, reach), np.float64)
    if resample:
        _bilinear_weights(source, scaled, first, count, starts, sizes, weights)
    else:
        for i in range(count):
            starts[i] = first + i
            weights[i, 0] = 1 << _PRECISION_BITS
    low, high = starts[0], starts[count - 1] + sizes[count - 1]
    for i in range(count):  # (starts rise with i; this only guards the span)
        low = min(low, starts[i])
        high = max(high, starts[i] + sizes[i])
    return starts, sizes, weights, low, high


@numba.njit(cache=True, nogil=True, error_model="numpy")  # typed at its calls: an explicit signature made it slower
def _pass_across(source, first_row, rows, first_column, starts, sizes, weights, out):
    """The horizontal pass: ``out[r, x] = clip8(2²¹ + Σᵢ source[first_row + r, starts[x] − first_column + i]·wᵢ)``
    (``source`` columns counted from ``first_column``), per channel."""
    half = np.int64(1) << (_PRECISION_BITS - 1)
    for r in range(rows):
        line = source[first_row + r]
        for x in range(out.shape[1]):
            start = starts[x] - first_column
            red = green = blue = half
            for i in range(sizes[x]):
                weight = np.int64(weights[x, i])
                red += np.int64(line[start + i, 0]) * weight
                green += np.int64(line[start + i, 1]) * weight
                blue += np.int64(line[start + i, 2]) * weight
            out[r, x, 0] = _clip8(red)
            out[r, x, 1] = _clip8(green)
            out[r, x, 2] = _clip8(blue)


@numba.njit(cache=True, nogil=True, error_model="numpy")  # (as _pass_across)
def _pass_down(source, first_row, first_column, starts, sizes, weights, out):
    """The vertical pass: ``out[y, c] = clip8(2²¹ + Σᵢ source[starts[y] − first_row + i, first_column + c]·wᵢ)``,
    summed a whole row at a time (the same sums, in the same order, on whole vectors)."""
    length = out.shape[1] * 3
    sums = np.empty(length, np.int64)
    half = np.int64(1) << (_PRECISION_BITS - 1)
    for y in range(out.shape[0]):
        sums[:] = half
        for i in range(sizes[y]):
            weight = np.int64(weights[y, i])
            line = source[starts[y] - first_row + i].reshape(-1)
            offset = first_column * 3
            for j in range(length):
                sums[j] += np.int64(line[offset + j]) * weight
        target = out[y].reshape(-1)
        for j in range(length):
            target[j] = _clip8(sums[j])


@_signature(types.void(_IMAGE, _OUT, i64, i64, i64, i64, types.boolean))
def resize_window(picture, out, width, height, left, top, vertical_first):
    """The window of ``out``'s size at (``left``, ``top``) of ``picture`` resized to ``width``×``height`` as Pillow's
    ``resize((width, height), BILINEAR)`` makes it, bit for bit (``Resample.c``): two passes, each
    ``clip8(2²¹ + Σ value·weight)`` with 22-bit weights into bytes, a pass skipped where its side keeps its size;
    horizontal first, unless ``vertical_first`` (the caller's reading of Pillow's rule: newer Pillows run the
    vertical pass first when the height shrinks by more than twice what the width does). Each output value
    depends on its own weights alone, so only the window's values are made, from the inputs they reach."""
    rows, columns = out.shape[0], out.shape[1]
    source_height, source_width = picture.shape[0], picture.shape[1]
    row_starts, row_sizes, row_weights, first_row, last_row = _axis_weights(
        source_height, height, top, rows, height != source_height
    )
    column_starts, column_sizes, column_weights, first_column, last_column = _axis_weights(
        source_width, width, left, columns, width != source_width
    )
    if vertical_first:  # the window's rows, over the columns the horizontal pass reads
        between = np.empty((rows, last_column - first_column, 3), np.uint8)
        _pass_down(picture, 0, first_column, row_starts, row_sizes, row_weights, between)
        _pass_across(between, 0, rows, first_column, column_starts, column_sizes, column_weights, out)
    else:  # the rows the vertical pass reads, across the window's columns
        between = np.empty((last_row - first_row, columns, 3), np.uint8)
        _pass_across(picture, first_row, last_row - first_row, 0, column_starts, column_sizes, column_weights, between)
        _pass_down(between, first_row, 0, row_starts, row_sizes, row_weights, out)
