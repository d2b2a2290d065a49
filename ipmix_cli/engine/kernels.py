"""The compiled kernels: every per-pixel loop of the engine in numba, each giving the plain path's bytes exactly.

Imported only by ``ipmix_cli.compiled`` (which decides when, and where numba caches the machine code); the
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

# Inputs are read-only types (numba passes a writable array where a read-only one is declared, not the
# reverse: mixing pictures and images made from Pillow buffers are read-only); "A" layouts take views.
_IMAGE = types.Array(types.uint8, 3, "C", readonly=True)
_ANY_IMAGE = types.Array(types.uint8, 3, "A", readonly=True)
_OUT = types.Array(types.uint8, 3, "C")
_ANY_OUT = types.Array(types.uint8, 3, "A")
_FLAT = types.Array(types.uint8, 1, "C", readonly=True)
_FLAT_OUT = types.Array(types.uint8, 1, "C")
_TABLE = types.Array(types.float64, 1, "C", readonly=True)
_UNIFORMS = types.Array(types.float32, 3, "C", readonly=True)
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


@_signature(types.void(_IMAGE, _OUT, f64, f64, f64, f64, f64, f64))
def affine(image, out, a, b, c, d, e, f):
    """Pillow's ``transform(size, AFFINE, (a, b, c, d, e, f), BILINEAR)`` of ``image`` into ``out`` (whose size
    is the output size), bit for bit: Pillow's ``affine_transform`` and ``bilinear_filter32RGB`` in its order
    of operations (``affine.py`` describes them). ``a·xin`` and ``d·xin`` are the same products for every row,
    so they are computed once per column; each sum is formed as Pillow forms it.

    Row by row in three passes, so that the arithmetic runs on whole rows at once (vectorised): where each
    output pixel reads (its four neighbours' offsets and its two weights), then the neighbours gathered per
    channel, then the two interpolations in float64 and the truncation, black outside the image."""
    height, width = image.shape[0], image.shape[1]
    rows, columns = out.shape[0], out.shape[1]
    source = image.reshape(-1)
    across_u = np.empty(columns)
    across_v = np.empty(columns)
    for x in range(columns):
        across_u[x] = a * (x + 0.5)
        across_v[x] = d * (x + 0.5)
    weight_x = np.empty(columns)
    weight_y = np.empty(columns)
    base = np.empty(columns, np.int64)
    step_x = np.empty(columns, np.int64)
    step_y = np.empty(columns, np.int64)
    inside = np.empty(columns, np.uint8)
    near = np.empty((4, 3, columns), np.uint8)
    mixed = np.empty((3, columns), np.uint8)
    stride = width * 3
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
            left = max(np.int64(column), 0)
            right = min(np.int64(column) + 1, width - 1)
            top = max(np.int64(row), 0)
            bottom = min(np.int64(row) + 1, height - 1)
            base[x] = top * stride + left * 3
            step_x[x] = (right - left) * 3
            step_y[x] = (bottom - top) * stride
        for x in range(columns):
            i = base[x]
            j = i + step_x[x]
            k = i + step_y[x]
            m = k + step_x[x]
            for channel in range(3):
                near[0, channel, x] = source[i + channel]
                near[1, channel, x] = source[j + channel]
                near[2, channel, x] = source[k + channel]
                near[3, channel, x] = source[m + channel]
        for channel in range(3):
            top_left, top_right = near[0, channel], near[1, channel]
            bottom_left, bottom_right = near[2, channel], near[3, channel]
            result = mixed[channel]
            for x in range(columns):
                p = np.float64(top_left[x])
                upper = p + (np.float64(top_right[x]) - p) * weight_x[x]
                p = np.float64(bottom_left[x])
                lower = p + (np.float64(bottom_right[x]) - p) * weight_x[x]
                result[x] = np.uint8(upper + (lower - upper) * weight_y[x]) * inside[x]
        for x in range(columns):
            out[y, x, 0] = mixed[0, x]
            out[y, x, 1] = mixed[1, x]
            out[y, x, 2] = mixed[2, x]


@_signature(types.void(_IMAGE, _OUT, f64, i64))
def shear_lines(image, out, factor, axis):
    """``ops._shear`` (the row-run shear of images above ``ops.SMALL_PIXELS``): each line (a row for shear_x,
    ``axis`` 1; a column for shear_y, ``axis`` 0) has one shift ``factor·(i + ½)`` in float64, its whole part,
    and its fraction rounded to float32; a value is ``(right − left)·fraction + left`` in float32 from the
    edge-clamped neighbours, truncated; a line shifted by its length or more is black, and so are the values
    outside ``[⌈−½ − shift⌉, ⌈length − ½ − shift⌉)``, as there."""
    height, width = image.shape[0], image.shape[1]
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
    out[:] = 0
    if axis == 1:
        for y in range(height):
            for x in range(first[y], stop[y]):
                source = whole[y] + x
                left = min(max(source, 0), width - 1)
                right = min(max(source + 1, 0), width - 1)
                for channel in range(3):
                    p = np.float32(image[y, left, channel])
                    q = np.float32(image[y, right, channel])
                    out[y, x, channel] = np.uint8((q - p) * fraction[y] + p)
    else:
        for y in range(height):
            for x in range(width):
                if y < first[x] or y >= stop[x]:
                    continue
                source = whole[x] + y
                top = min(max(source, 0), height - 1)
                bottom = min(max(source + 1, 0), height - 1)
                for channel in range(3):
                    p = np.float32(image[top, x, channel])
                    q = np.float32(image[bottom, x, channel])
                    out[y, x, channel] = np.uint8((q - p) * fraction[x] + p)


# --- tone: histograms and lookup tables ----------------------------------------------------------------

EQUALIZE = 0
AUTOCONTRAST = 1


@_signature(types.void(_IMAGE, _ANY_OUT, i64, i64, i64, i64))
def tone(image, out, top, left, kind, cut):
    """Pillow's ``ImageOps.equalize`` (``kind`` 0) or ``autocontrast`` (``kind`` 1, ``cut`` pixels removed
    from each end of each channel's histogram) of ``image``, for the box of ``out``'s size at (``left``,
    ``top``): the lookup tables come from the whole image's histogram, as ``ops._equalize_lut`` and
    ``ops._autocontrast_lut`` compute them."""
    height, width = image.shape[0], image.shape[1]
    count = height * width
    hist = np.zeros((3, 256), np.int64)
    for y in range(height):
        for x in range(width):
            for channel in range(3):
                hist[channel, image[y, x, channel]] += 1
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
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            for channel in range(3):
                out[y, x, channel] = lut[channel, image[top + y, left + x, channel]]


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


@_signature(types.void(_ANY_OUT, _ANY_IMAGE, _UNIFORMS, f32))
def select_patch(target, source, uniforms, q):
    """``target`` ← ``target`` where ``u < q`` else ``source``: ``uniforms`` is H×W×1 (one per pixel, shared by
    its channels: ``random_pixels``) or H×W×3 (``random_elems``)."""
    shared = uniforms.shape[2] == 1
    for y in range(target.shape[0]):
        for x in range(target.shape[1]):
            for channel in range(3):
                u = uniforms[y, x, 0] if shared else uniforms[y, x, channel]
                if not u < q:
                    target[y, x, channel] = source[y, x, channel]


# --- the final blend ----------------------------------------------------------------------------------


@_signature(types.void(_FLAT, f32, _FLAT, f32, _FLAT, f32, _FLAT, f32, i64, _FLAT_OUT))
def blend(image, w0, a, wa, b, wb, c, wc, terms, out):
    """``blend.blend`` for one to three chains in one pass: ``w₀·x + ½ + Σ wᵢ·chainᵢ`` in float32, added in
    that order, truncated (``terms`` says how many of ``a``, ``b``, ``c`` count)."""
    for i in range(image.shape[0]):
        total = np.float32(image[i]) * w0
        total += np.float32(0.5)
        total += np.float32(a[i]) * wa
        if terms > 1:
            total += np.float32(b[i]) * wb
        if terms > 2:
            total += np.float32(c[i]) * wc
        out[i] = np.uint8(total)
