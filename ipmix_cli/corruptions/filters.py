"""Linear filters and resampling shared by the corruptions, with the semantics of the libraries the reference
called (scikit-image/scipy ``gaussian``, OpenCV's border rules, scipy's ``zoom``), in numpy and small kernels.

Border modes are named as numpy's ``np.pad`` names them: ``edge`` (scipy ``nearest``), ``symmetric`` (scipy
``reflect``, OpenCV ``BORDER_REFLECT``) and ``reflect`` (scipy ``mirror``, OpenCV ``BORDER_REFLECT_101``).
"""

from __future__ import annotations

import numpy as np

from ._compiled import njit

#: Kernels up to this many taps are applied directly, longer ones through the FFT (numpy's, single-threaded:
#: a BLAS product would start threads of its own, which a loaded machine punishes badly).
_DIRECT_TAPS = 63
#: The FFT paths transform at most this many values at once, so their temporaries stay small.
_FFT_BLOCK = 1 << 18


def to_uint8(values: np.ndarray) -> np.ndarray:
    """``np.uint8(np.clip(values, 0, 1) * 255)`` as the reference ends: clipped, then truncated; computed in
    the values' own precision (float32 or float64), in one pass."""
    values = np.ascontiguousarray(values)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    kind = values.dtype.type
    return _to_uint8(values.reshape(-1), kind(0), kind(1), kind(255)).reshape(values.shape)


def _to_uint8_numpy(flat, zero, one, scale):
    return (np.clip(flat, zero, one) * scale).astype(np.uint8)


@njit(fallback=_to_uint8_numpy)
def _to_uint8(flat, zero, one, scale):
    out = np.empty(flat.shape[0], dtype=np.uint8)
    for n in range(flat.shape[0]):
        out[n] = np.uint8(min(max(flat[n], zero), one) * scale)
    return out


def gaussian_weights(sigma: float, truncate: float) -> np.ndarray:
    """scipy's ``gaussian_filter1d`` weights: radius ``int(truncate * sigma + 0.5)``, normalised."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x * x)
    return phi / phi.sum()


def gaussian(image: np.ndarray, sigma: float, mode: str = "edge", truncate: float = 4.0) -> np.ndarray:
    """scikit-image's ``gaussian(image, sigma, mode, truncate)`` over the first two axes (float64 out).

    scikit-image's default mode ``nearest`` is ``edge`` here, its ``reflect`` is ``symmetric``. A sigma of
    (almost) zero leaves the image as it is, as scipy skips such an axis.
    """
    out = np.asarray(image, dtype=np.float64)
    if sigma <= 1e-15:
        return out.copy()
    weights = gaussian_weights(sigma, truncate)
    out = correlate_axis(out, weights, 0, mode)
    return correlate_axis(out, weights, 1, mode)


def correlate_axis(image: np.ndarray, weights: np.ndarray, axis: int, mode: str) -> np.ndarray:
    """Correlate ``image`` (2-D or H×W×C, float) with the odd-length ``weights`` along ``axis`` (0 or 1),
    the border extended by ``mode``."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if image.ndim == 2 and axis == 1:  # a single plane: its columns are the rows of its transpose (faster)
        return correlate_axis(np.ascontiguousarray(image.T), weights, 0, mode).T
    radius = len(weights) // 2
    length = image.shape[axis]
    if mode == "symmetric" and len(weights) > _DIRECT_TAPS:
        return _periodic_correlate(image, weights, axis)
    index = border_index(np.arange(-radius, length + radius), length, mode)
    if len(weights) > _DIRECT_TAPS:
        return _fft_correlate(np.asarray(image, dtype=np.float64), index, weights, axis)
    source = np.ascontiguousarray(image, dtype=np.float64)
    shape = source.shape
    if axis == 0:
        return _correlate_rows(source.reshape(shape[0], -1), weights, index).reshape(shape)
    planes = source.reshape(shape[0], shape[1], -1)
    return _correlate_columns(planes, weights, index).reshape(shape)


def border_index(index: np.ndarray, length: int, mode: str) -> np.ndarray:
    """Positions along an axis of ``length``, possibly outside it, mapped to samples by the border ``mode``."""
    if mode == "edge":
        return np.clip(index, 0, length - 1)
    if mode == "symmetric":
        return fold_symmetric(index, length)
    if mode == "reflect":
        return fold_reflect101(index, length)
    raise ValueError(f"unknown border mode {mode!r}")


def _correlate_rows_numpy(source, weights, index):
    taps = weights.shape[0]
    rows = index.shape[0] - taps + 1
    out = np.zeros((rows, source.shape[1]))
    for k in range(taps):
        out += weights[k] * source[index[k : k + rows]]
    return out


@njit(fallback=_correlate_rows_numpy)
def _correlate_rows(source, weights, index):
    """out[i, j] = sum_k weights[k] * source[index[i + k], j]."""
    taps = weights.shape[0]
    rows = index.shape[0] - taps + 1
    columns = source.shape[1]
    out = np.zeros((rows, columns))
    for i in range(rows):
        target = out[i]
        for k in range(taps):
            weight = weights[k]
            line = source[index[i + k]]  # views first: the loop below then vectorises
            for j in range(columns):
                target[j] += weight * line[j]
    return out


def _correlate_columns_numpy(planes, weights, index):
    taps = weights.shape[0]
    columns = index.shape[0] - taps + 1
    out = np.zeros((planes.shape[0], columns, planes.shape[2]))
    for k in range(taps):
        out += weights[k] * planes[:, index[k : k + columns]]
    return out


@njit(fallback=_correlate_columns_numpy)
def _correlate_columns(planes, weights, index):
    """out[i, j, c] = sum_k weights[k] * planes[i, index[j + k], c]."""
    taps = weights.shape[0]
    columns = index.shape[0] - taps + 1
    depth = planes.shape[2]
    out = np.empty((planes.shape[0], columns, depth))
    scratch = np.zeros(depth)
    for i in range(planes.shape[0]):
        for j in range(columns):
            if depth == 3:  # three running sums in registers: the common case, about three times faster
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                for k in range(taps):
                    weight = weights[k]
                    column = index[j + k]
                    a0 += weight * planes[i, column, 0]
                    a1 += weight * planes[i, column, 1]
                    a2 += weight * planes[i, column, 2]
                out[i, j, 0] = a0
                out[i, j, 1] = a1
                out[i, j, 2] = a2
            else:
                for c in range(depth):
                    scratch[c] = 0.0
                for k in range(taps):
                    weight = weights[k]
                    column = index[j + k]
                    for c in range(depth):
                        scratch[c] += weight * planes[i, column, c]
                for c in range(depth):
                    out[i, j, c] = scratch[c]
    return out


def _periodic_correlate(image: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """Correlation with a symmetric border through one FFT of twice the axis: a symmetric extension is periodic
    with period 2n, so the kernel can be folded onto that period whatever its length. The transforms run
    along the last (contiguous) axis, a block of lines at a time."""
    moved = np.ascontiguousarray(np.moveaxis(image, axis, -1))
    length = moved.shape[-1]
    period = 2 * length
    radius = len(weights) // 2
    folded = np.zeros(period)
    np.add.at(folded, np.mod(np.arange(-radius, radius + 1), period), weights)
    # correlation: out[i] = sum_t folded[t] * signal[i + t]  ==  irfft(rfft(signal) * conj(rfft(folded)))
    kernel = np.conj(np.fft.rfft(folded))
    lines = moved.reshape(-1, length)
    out = np.empty(lines.shape)
    block = max(1, _FFT_BLOCK // period)
    for start in range(0, lines.shape[0], block):
        part = lines[start : start + block]
        signal = np.concatenate([part, part[:, ::-1]], axis=1)
        out[start : start + block] = np.fft.irfft(np.fft.rfft(signal, axis=1) * kernel, n=period, axis=1)[:, :length]
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _fft_correlate(image: np.ndarray, index: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """The correlation along ``axis`` of ``image`` extended by ``index`` (its border), through a real FFT,
    a block of lines at a time."""
    moved = np.moveaxis(image, axis, 0)
    lines = moved.reshape(moved.shape[0], -1) if axis == 0 else None
    length = image.shape[axis]
    taps = len(weights)
    n = _fast_length(len(index))
    kernel = np.fft.rfft(weights[::-1], n=n)[:, None]
    out = np.empty(image.shape)
    target = np.moveaxis(out, axis, 0)
    target_lines = target.reshape(target.shape[0], -1) if axis == 0 else None
    if axis == 0:
        width = max(1, _FFT_BLOCK // n)
        for start in range(0, lines.shape[1], width):
            block = lines[index, start : start + width]
            full = np.fft.irfft(np.fft.rfft(block, n=n, axis=0) * kernel, n=n, axis=0)
            target_lines[:, start : start + width] = full[taps - 1 : taps - 1 + length]
        return out
    # axis 1: each row of the image in turn is a block of columns × channels
    rows = max(1, _FFT_BLOCK // (n * max(1, image[0, 0].size)))
    for start in range(0, image.shape[0], rows):
        block = image[start : start + rows][:, index]
        spectrum = np.fft.rfft(block, n=n, axis=1)
        spectrum *= kernel.reshape((1, -1) + (1,) * (image.ndim - 2))
        full = np.fft.irfft(spectrum, n=n, axis=1)
        out[start : start + rows] = full[:, taps - 1 : taps - 1 + length]
    return out


def _fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c ≥ n (pocketfft is fastest on those)."""
    best = 1 << (max(1, n) - 1).bit_length()
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            f = f35
            while f < n:
                f *= 2
            best = min(best, f)
            f35 *= 3
        f5 *= 5
    return best


def fft_filter2d(image: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """Correlate each channel of ``image`` (H×W×C float) with the odd-sided 2-D ``kernel``, borders extended by
    ``mode``, through a 2-D real FFT of each channel plane in turn (what OpenCV's ``filter2D`` does for large
    kernels)."""
    ky, kx = kernel.shape[0] // 2, kernel.shape[1] // 2
    height, width = image.shape[:2]
    n0, n1 = _fast_length(height + 2 * ky), _fast_length(width + 2 * kx)
    spectrum_of_kernel = np.fft.rfft2(kernel[::-1, ::-1], s=(n0, n1))
    out = np.empty(image.shape)
    for channel in range(image.shape[2]):
        plane = np.pad(image[:, :, channel], ((ky, ky), (kx, kx)), mode=mode)
        spectrum = np.fft.rfft2(plane, s=(n0, n1))
        spectrum *= spectrum_of_kernel
        full = np.fft.irfft2(spectrum, s=(n0, n1))
        out[:, :, channel] = full[2 * ky : 2 * ky + height, 2 * kx : 2 * kx + width]
    return out


def box3(image: np.ndarray) -> np.ndarray:
    """OpenCV's ``blur(image, (3, 3))`` on a float image: the 3×3 mean, borders ``BORDER_REFLECT_101``."""
    padded = np.pad(image, 1, mode="reflect").astype(np.float64)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


# --- resampling ----------------------------------------------------------------------------------------------


def zoom_coordinates(length: int, zoom: float) -> tuple[np.ndarray, np.ndarray, int]:
    """scipy ``zoom(order=1)`` of the centre crop that ``clipped_zoom`` takes along one axis of ``length``.

    The reference crops ``ceil(length / zoom)`` centred samples, zooms them to ``round(crop * zoom)`` (output
    sample ``o`` reads input ``o * (crop - 1) / (out - 1)``) and keeps the centred ``length``. Returns, per kept
    output sample, the index of its lower input sample in the uncropped axis, its interpolation weight towards
    the next sample, and the crop's last index (so the upper neighbour can be clamped to it).
    """
    crop = int(np.ceil(length / float(zoom)))
    top = (length - crop) // 2
    out = int(round(crop * zoom))
    trim = (out - length) // 2
    o = np.arange(trim, trim + length, dtype=np.float64)
    position = o * ((crop - 1) / (out - 1)) if out > 1 else np.zeros_like(o)
    lower = np.floor(position)
    weight = position - lower
    lower = lower.astype(np.int64)
    upper_limit = crop - 1
    return lower + top, weight, upper_limit + top


def fold_symmetric(index: np.ndarray, length: int) -> np.ndarray:
    """Indices folded into ``[0, length)`` by a symmetric (``d c b a | a b c d``) extension."""
    period = 2 * length
    index = np.mod(index, period)
    return np.where(index >= length, period - 1 - index, index)


def fold_reflect101(index: np.ndarray, length: int) -> np.ndarray:
    """Indices folded into ``[0, length)`` by OpenCV's ``BORDER_REFLECT_101`` (``d c b | a b c d``)."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * length - 2
    index = np.mod(index, period)
    return np.where(index >= length, period - index, index)


def resize_linear_coordinates(size: int, scale: float, source: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV ``resize(INTER_LINEAR)`` by ``scale``: for each of ``size`` outputs, the lower source index and
    the weight of the upper one (source sample at ``(o + 0.5) / scale - 0.5``, clamped at the borders)."""
    position = (np.arange(size, dtype=np.float64) + 0.5) / scale - 0.5
    lower = np.floor(position)
    weight = position - lower
    lower = lower.astype(np.int64)
    below = lower < 0
    weight[below] = 0.0
    lower[below] = 0
    above = lower >= source - 1
    weight[above] = 0.0
    lower[above] = source - 1
    return lower, weight
