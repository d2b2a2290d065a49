"""Weather: snow, frost and fog."""

from __future__ import annotations

import math

import numpy as np

from . import pointwise
from ._compiled import njit
from .common import draw_seed, field_generator
from .filters import fold_symmetric, resize_linear_coordinates, zoom_coordinates
from .motion import motion_blur as _imagemagick_motion_blur

# --- snow ------------------------------------------------------------------------------------------------------


def sample_snow(rng: np.random.Generator, setting) -> dict:
    return {"angle": float(rng.uniform(-135, -45)), "seed": draw_seed(rng)}


def snow(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """A layer of normal noise, zoomed (flakes of ``zoom`` pixels), thresholded, motion-blurred by ImageMagick's
    kernel at an angle ~ U(-135°, -45°), added twice (once turned by 180°) to the image brightened towards
    ``1.5 · grey + 0.5``. Fields: the H×W normal layer."""
    v = setting.values
    height, width = image.shape[:2]
    layer = field_generator(draws["seed"]).normal(v["mean"], v["std"], size=(height, width))
    layer = _clipped_zoom_2d(layer, v["zoom"])
    layer[layer < v["threshold"]] = 0
    flakes = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    flakes = _imagemagick_motion_blur(flakes, v["radius"], v["sigma"], draws["angle"])
    return pointwise.snow(image, flakes, v["blend"])


def _clipped_zoom_2d(layer: np.ndarray, zoom: float) -> np.ndarray:
    """The reference's ``clipped_zoom`` of a 2-D layer (bilinear zoom of the centre crop, per axis)."""
    if zoom == 1.0:
        return layer.copy()
    r0, wr, rl = zoom_coordinates(layer.shape[0], zoom)
    c0, wc, cl = zoom_coordinates(layer.shape[1], zoom)
    return _zoom_layer(layer, r0, wr, np.minimum(r0 + 1, rl), c0, wc, np.minimum(c0 + 1, cl))


def _zoom_layer_numpy(layer, r0, wr, r1, c0, wc, c1):
    wr, wc = wr[:, None], wc[None, :]
    top = layer[r0][:, c0] * (1.0 - wc) + layer[r0][:, c1] * wc
    bottom = layer[r1][:, c0] * (1.0 - wc) + layer[r1][:, c1] * wc
    return top * (1.0 - wr) + bottom * wr


@njit(fallback=_zoom_layer_numpy)
def _zoom_layer(layer, r0, wr, r1, c0, wc, c1):
    out = np.empty((r0.shape[0], c0.shape[0]))
    for i in range(r0.shape[0]):
        for j in range(c0.shape[0]):
            top = layer[r0[i], c0[j]] * (1.0 - wc[j]) + layer[r0[i], c1[j]] * wc[j]
            bottom = layer[r1[i], c0[j]] * (1.0 - wc[j]) + layer[r1[i], c1[j]] * wc[j]
            out[i, j] = top * (1.0 - wr[i]) + bottom * wr[i]
    return out


# --- frost -------------------------------------------------------------------------------------------------------


def sample_frost(rng: np.random.Generator, setting, pictures) -> dict:
    """Picture ``randint(5)`` (the reference never picks its sixth picture), then a crop offset per axis,
    ``randint(0, P - n)`` as the reference (exclusive: the last offset is never drawn); where the scaled
    picture is not longer than the image, a mirror-tiled picture is cropped at an offset drawn from one period
    ``randint(0, 2P)``."""
    index = int(rng.integers(5))
    rows, columns = scaled_picture_size(pictures.size(index), setting.values["picture_scale"])
    top = _offset(rng, rows, setting.height)
    left = _offset(rng, columns, setting.width)
    return {"picture": index, "top": top, "left": left}


def _offset(rng: np.random.Generator, picture: int, image: int) -> int:
    span = picture - image if picture > image else 2 * picture
    return int(rng.integers(0, span))


def scaled_picture_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(rows, columns) of a frost picture of (rows, columns) ``size`` resized by ``scale`` (OpenCV's rounding)."""
    if scale == 1.0:
        return size
    return max(1, int(np.rint(size[0] * scale))), max(1, int(np.rint(size[1] * scale)))


def frost(image: np.ndarray, setting, draws: dict, pictures) -> np.ndarray:
    """``clip(a · x + b · crop)`` with ``crop`` an H×W window of a frost picture resized by ``picture_scale``
    (OpenCV ``INTER_LINEAR``, as cifar's ``cv2.resize(fx=0.2)``), mirror-tiled where the image is larger."""
    v = setting.values
    picture = pictures.load(draws["picture"])
    window = frost_window(picture, v["picture_scale"], draws["top"], draws["left"], image.shape[0], image.shape[1])
    return pointwise.frost(image, window, v["image_weight"], v["frost_weight"])


def frost_window(picture: np.ndarray, scale: float, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The H×W window at (top, left) of ``picture`` resized by ``scale`` and mirror-tiled, made without resizing
    the whole picture: only the window's pixels are interpolated."""
    rows, columns = scaled_picture_size(picture.shape[:2], scale)
    row_index = fold_symmetric(np.arange(top, top + height), rows)
    column_index = fold_symmetric(np.arange(left, left + width), columns)
    if scale == 1.0:
        return picture[row_index][:, column_index]
    r0, wr = resize_linear_coordinates(rows, scale, picture.shape[0])
    c0, wc = resize_linear_coordinates(columns, scale, picture.shape[1])
    r0, wr, c0, wc = r0[row_index], wr[row_index], c0[column_index], wc[column_index]
    r1 = np.minimum(r0 + 1, picture.shape[0] - 1)
    c1 = np.minimum(c0 + 1, picture.shape[1] - 1)
    return _resample(picture, r0, wr, r1, c0, wc, c1)


def _resample_numpy(picture, r0, wr, r1, c0, wc, c1):
    wr, wc = wr[:, None, None], wc[None, :, None]
    top_row = picture[r0][:, c0].astype(np.float64) * (1.0 - wc) + picture[r0][:, c1].astype(np.float64) * wc
    bottom_row = picture[r1][:, c0].astype(np.float64) * (1.0 - wc) + picture[r1][:, c1].astype(np.float64) * wc
    return np.clip(np.rint(top_row * (1.0 - wr) + bottom_row * wr), 0, 255).astype(np.uint8)


@njit(fallback=_resample_numpy)
def _resample(picture, r0, wr, r1, c0, wc, c1):
    """Bilinear samples of an 8-bit picture at the given rows × columns, rounded to 8 bits."""
    depth = picture.shape[2]
    out = np.empty((r0.shape[0], c0.shape[0], depth), dtype=np.uint8)
    for i in range(r0.shape[0]):
        for j in range(c0.shape[0]):
            for c in range(depth):
                top = (
                    np.float64(picture[r0[i], c0[j], c]) * (1.0 - wc[j]) + np.float64(picture[r0[i], c1[j], c]) * wc[j]
                )
                bottom = (
                    np.float64(picture[r1[i], c0[j], c]) * (1.0 - wc[j]) + np.float64(picture[r1[i], c1[j], c]) * wc[j]
                )
                value = np.rint(top * (1.0 - wr[i]) + bottom * wr[i])
                out[i, j, c] = np.uint8(min(max(value, 0.0), 255.0))
    return out


# --- fog ----------------------------------------------------------------------------------------------------


def sample_fog(rng: np.random.Generator, setting) -> dict:
    return {"seed": draw_seed(rng)}


def fog(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """``x + strength · plasma``, rescaled by ``max / (max + strength)`` (see :func:`fog_map`). Fields: the
    plasma's uniforms, level by level (squares, then the two diamond sets), each in row-major order."""
    v = setting.values
    max_value = image.max() / 255.0
    plasma = fog_map(image.shape[0], image.shape[1], setting.scale, v["map_side"], v["decay"], draws["seed"])
    return pointwise.fog(image, np.ascontiguousarray(plasma), v["strength"], max_value)


def fog_map(height: int, width: int, scale: float, side: int, decay: float, seed: int) -> np.ndarray:
    """The reference's diamond-square plasma, extended to any size and scaled with the image.

    The reference draws a ``side``×``side`` torus (256 for imagenet, 32 for cifar), every grid point at a
    multiple of ``side`` at 0, and crops its top-left corner. Here the map is a torus of ``ny × nx`` such blocks
    (grid points at multiples of ``side`` all 0, octaves drawn block-wide with the reference's amplitudes and
    draw order), its cells ``u`` reference pixels wide, with ``u`` the smallest power of two ≥ 1/scale (octaves
    finer than a pixel are left out), normalised to [0, 1] over the whole torus and sampled bilinearly at the
    image's pixels (pixel ``i`` at cell ``i / (scale · u)``). One block and a direct crop at the reference size.
    """
    rows, columns, block, step = fog_geometry(height, width, scale, side)
    plasma = _plasma(rows, columns, block, decay, field_generator(seed))
    if step == 1.0:
        return plasma[:height, :width]
    return _bilinear_grid(plasma, height, width, step)


def fog_geometry(height: int, width: int, scale: float, side: int) -> tuple[int, int, int, float]:
    """The plasma torus for an image: (rows, columns, block, cells per image pixel)."""
    cell = 1
    while cell * scale < 1.0 and cell < side:
        cell *= 2
    block = side // cell
    step = 1.0 / (scale * cell)
    rows = -(-_cells_needed(height, step) // block) * block
    columns = -(-_cells_needed(width, step) // block) * block
    return rows, columns, block, step


def _cells_needed(length: int, step: float) -> int:
    last = (length - 1) * step
    return int(math.floor(last)) + (1 if last == math.floor(last) else 2)


def _plasma(rows: int, columns: int, block: int, decay: float, generator: np.random.Generator) -> np.ndarray:
    """Diamond-square on a ``rows``×``columns`` torus starting at ``block``-wide squares (the reference's
    ``plasma_fractal`` when rows = columns = block), each draw ``wibble · U(-wibble, wibble)``.

    The uniforms are drawn at once (``U(a, b)`` is ``a + (b - a) · random()``, one double each, so the stream
    is the reference's per-step ``uniform`` calls, concatenated) and the octaves run in a compiled kernel."""
    count = 0
    step = block
    while step >= 2:
        count += 3 * (rows // step) * (columns // step)
        step //= 2
    return _diamond_square(rows, columns, block, decay, generator.random(count))


def _diamond_square_numpy(rows, columns, block, decay, uniforms):
    grid = np.zeros((rows, columns))
    step = block
    wibble = 100.0
    used = 0
    while step >= 2:
        half = step // 2
        shape = (rows // step, columns // step)
        size = shape[0] * shape[1]

        def wibbled_mean(array, offset):
            low = -wibble
            draws = low + (wibble - low) * uniforms[offset : offset + size].reshape(shape)
            return array / 4 + wibble * draws

        # squares: each square's centre from its four corners
        corners = grid[0:rows:step, 0:columns:step]
        square = corners + np.roll(corners, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        grid[half:rows:step, half:columns:step] = wibbled_mean(square, used)
        # diamonds: the edge midpoints from their two corners and two centres
        centres = grid[half:rows:step, half:columns:step]
        corners = grid[0:rows:step, 0:columns:step]
        left = centres + np.roll(centres, 1, axis=0)
        top = corners + np.roll(corners, -1, axis=1)
        grid[0:rows:step, half:columns:step] = wibbled_mean(left + top, used + size)
        left = centres + np.roll(centres, 1, axis=1)
        top = corners + np.roll(corners, -1, axis=0)
        grid[half:rows:step, 0:columns:step] = wibbled_mean(left + top, used + 2 * size)
        used += 3 * size
        step //= 2
        wibble /= decay
    grid -= grid.min()
    peak = grid.max()
    return grid / peak if peak > 0 else grid  # a map with no octave at all (a tiny image) is flat


@njit(fallback=_diamond_square_numpy)
def _diamond_square(rows, columns, block, decay, uniforms):
    grid = np.zeros((rows, columns))
    step = block
    wibble = 100.0
    used = 0
    while step >= 2:
        half = step // 2
        ny = rows // step
        nx = columns // step
        low = -wibble
        scale = wibble - low
        for a in range(ny):  # squares
            below = (a + 1) % ny
            for b in range(nx):
                right = (b + 1) % nx
                total = grid[a * step, b * step] + grid[below * step, b * step]
                total = total + (grid[a * step, right * step] + grid[below * step, right * step])
                draw = low + scale * uniforms[used + a * nx + b]
                grid[a * step + half, b * step + half] = total / 4 + wibble * draw
        used += ny * nx
        for a in range(ny):  # diamonds on the square rows
            above = (a - 1) % ny
            for b in range(nx):
                right = (b + 1) % nx
                total = grid[a * step + half, b * step + half] + grid[above * step + half, b * step + half]
                total = total + (grid[a * step, b * step] + grid[a * step, right * step])
                draw = low + scale * uniforms[used + a * nx + b]
                grid[a * step, b * step + half] = total / 4 + wibble * draw
        used += ny * nx
        for a in range(ny):  # diamonds on the square columns
            below = (a + 1) % ny
            for b in range(nx):
                left = (b - 1) % nx
                total = grid[a * step + half, b * step + half] + grid[a * step + half, left * step + half]
                total = total + (grid[a * step, b * step] + grid[below * step, b * step])
                draw = low + scale * uniforms[used + a * nx + b]
                grid[a * step + half, b * step] = total / 4 + wibble * draw
        used += ny * nx
        step //= 2
        wibble /= decay
    lowest = grid.min()
    grid -= lowest
    peak = grid.max()
    if peak > 0:
        grid /= peak
    return grid


def _bilinear_grid(grid: np.ndarray, height: int, width: int, step: float) -> np.ndarray:
    """``grid`` sampled at (i · step, j · step) for every pixel, bilinearly."""
    rows = np.arange(height) * step
    columns = np.arange(width) * step
    r0 = np.floor(rows).astype(np.int64)
    c0 = np.floor(columns).astype(np.int64)
    wr = (rows - r0)[:, None]
    wc = (columns - c0)[None, :]
    r1 = np.minimum(r0 + 1, grid.shape[0] - 1)
    c1 = np.minimum(c0 + 1, grid.shape[1] - 1)
    top = grid[r0][:, c0] * (1 - wc) + grid[r0][:, c1] * wc
    bottom = grid[r1][:, c0] * (1 - wc) + grid[r1][:, c1] * wc
    return top * (1 - wr) + bottom * wr
