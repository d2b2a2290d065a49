"""Procedural mixing pictures (SPEC §3): IFS fractals, dead leaves, 1/f spectral noise.

Every picture is a pure function of its generator (``seeding.generator_for_index(seed, index)``), and
its parameters are returned with it as JSON-serialisable data for ``metadata.jsonl``.

- ``ifs``: random contractive iterated function systems of 2–4 affine maps, sampled through their
  singular values under the σ-factor constraint of Anderson & Farrell ("Improving Fractal Pre-training",
  WACV 2022), rendered by the chaos game with many walkers advanced together, as a log-density image,
  coloured with a random hue offset and composited on a smooth random background. Systems whose picture
  covers too little of the canvas are rejected and redrawn from the same generator.
- ``dead_leaves``: occluding discs and squares with power-law sizes and random colours (the "dead leaves"
  model, as in Baradad et al., "Learning to See by Looking at Noise", NeurIPS 2021).
- ``spectral``: coloured noise with a 1/f^a amplitude spectrum and random phases (ibid.).
- ``mixed``: one of the three, drawn uniformly per picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from ..engine import compiled

KINDS = ("ifs", "dead_leaves", "spectral", "mixed")
#: points rendered per IFS picture (at 256×256 about 1.5 per pixel, concentrated on the attractor)
IFS_POINTS = 100_000
#: an IFS picture must light up at least this share of the canvas, or the system is redrawn
MIN_COVERAGE = 0.05
MAX_ATTEMPTS = 50
_WALKERS = 5_000
_WARMUP_WALKERS = 500
_WARMUP_STEPS = 24


@dataclass(frozen=True)
class Picture:
    pixels: np.ndarray  # H×W×3 uint8
    params: dict


# --- IFS: sampling ---------------------------------------------------------------------------------


def sigma_factor_range(maps: int) -> tuple[float, float]:
    """Anderson & Farrell's range for the σ-factor Σ (σ₁ + 2σ₂) of a system of ``maps`` maps."""
    return (5 + maps) / 2, (6 + maps) / 2


def sample_singular_values(rng: np.random.Generator, maps: int, sigma_factor: float) -> np.ndarray:
    """``maps`` pairs (σ₁, σ₂) with 0 ≤ σ₂ ≤ σ₁ ≤ 1 and Σ (σ₁ + 2σ₂) = ``sigma_factor``.

    Map by map, each pair is drawn uniformly within the bounds that keep the remaining budget reachable by
    the maps still to come (each contributes between 0 and 3); the last pair takes what is left.
    """
    if not 0 < sigma_factor < 3 * maps:
        raise ValueError(f"σ-factor {sigma_factor} out of reach of {maps} maps")
    pairs = np.empty((maps, 2))
    remaining = sigma_factor
    for k in range(maps - 1):
        still = 3 * (maps - 1 - k)  # the most the later maps can contribute
        s1 = rng.uniform(max(0.0, (remaining - still) / 3), min(1.0, remaining))
        low = max(0.0, (remaining - still - s1) / 2)
        high = min(s1, (remaining - s1) / 2)
        s2 = rng.uniform(low, max(low, high))
        pairs[k] = s1, s2
        remaining -= s1 + 2 * s2
    # last map: σ₁ + 2σ₂ = remaining exactly, with σ₂ ≤ σ₁ ≤ 1
    low, high = max(0.0, (remaining - 1) / 2), remaining / 3
    s2 = rng.uniform(low, max(low, high))
    pairs[-1] = remaining - 2 * s2, s2
    return pairs


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def sample_ifs(rng: np.random.Generator) -> dict:
    """A random contractive system: 2–4 maps x → A x + b with A = R(θ) diag(σ₁, σ₂) R(φ) D."""
    maps = int(rng.integers(2, 5))
    sigma_factor = float(rng.uniform(*sigma_factor_range(maps)))
    singular = sample_singular_values(rng, maps, sigma_factor)
    matrices, offsets = [], []
    for s1, s2 in singular:
        theta, phi = rng.uniform(0, 2 * math.pi, 2)
        reflection = np.diag(rng.choice([-1.0, 1.0], 2))
        matrices.append(_rotation(theta) @ np.diag([s1, s2]) @ _rotation(phi) @ reflection)
        offsets.append(rng.uniform(-1, 1, 2))
    determinants = singular[:, 0] * singular[:, 1]
    weights = determinants / determinants.sum() if determinants.sum() > 0 else np.full(maps, 1 / maps)
    return {
        "maps": [[*m.ravel().tolist(), *b.tolist()] for m, b in zip(matrices, offsets)],  # a b c d e f
        "probabilities": weights.tolist(),
        "singular_values": singular.tolist(),
        "sigma_factor": sigma_factor,
    }


# --- IFS: rendering --------------------------------------------------------------------------------

_CHOICE_SLOTS = 4096  # map probabilities are quantised to 1/4096 for a one-gather draw


def _choice_table(probabilities) -> np.ndarray:
    """Slots per map ∝ its probability (at least one each), so that a uniform slot draws a map."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    slots = np.maximum(1, np.round(probabilities * _CHOICE_SLOTS)).astype(np.int64)
    slots[np.argmax(slots)] += _CHOICE_SLOTS - slots.sum()
    return np.repeat(np.arange(len(probabilities), dtype=np.intp), slots)


def chaos_game(system: dict, rng: np.random.Generator, points: int) -> tuple[np.ndarray, np.ndarray]:
    """``points`` points of the attractor as two float32 arrays (x, y).

    A short warm-up run from the fixed point of the first map (a point of the attractor) gives the
    starting points of many walkers, which then advance together, one map draw per walker per step.
    """
    coefficients = np.asarray(system["maps"], dtype=np.float64)
    table = _choice_table(system["probabilities"])
    by_column = np.ascontiguousarray(coefficients.T.astype(np.float32))  # (6, maps): a b c d e f
    linear = coefficients[0, :4].reshape(2, 2)
    start = np.linalg.solve(np.eye(2) - linear, coefficients[0, 4:])  # σ₁ < 1: I − A is invertible

    def advance(x, y, slots, out_x, out_y):
        a, b, c, d, e, f = np.take(by_column, np.take(table, slots), axis=1)
        np.multiply(a, x, out=out_x)
        out_x += b * y
        out_x += e
        np.multiply(c, x, out=out_y)
        out_y += d * y
        out_y += f

    kernels = compiled.active()
    if kernels is not None:  # the same draws, the same float32 steps (kernels.ifs_walk)
        warm = rng.integers(0, _CHOICE_SLOTS, (_WARMUP_STEPS, _WARMUP_WALKERS), dtype=np.int16)
        pick = rng.integers(0, _WARMUP_WALKERS, _WALKERS)
        slots = rng.integers(0, _CHOICE_SLOTS, (-(-points // _WALKERS), _WALKERS), dtype=np.int16)
        out_x = np.empty(slots.shape, np.float32)
        out_y = np.empty(slots.shape, np.float32)
        start_x, start_y = np.float32(start[0]), np.float32(start[1])
        kernels.ifs_walk(start_x, start_y, warm, pick, slots, table, by_column, out_x, out_y)
        return out_x.ravel()[:points], out_y.ravel()[:points]
    x = np.full(_WARMUP_WALKERS, start[0], np.float32)
    y = np.full(_WARMUP_WALKERS, start[1], np.float32)
    for slots in rng.integers(0, _CHOICE_SLOTS, (_WARMUP_STEPS, _WARMUP_WALKERS), dtype=np.int16):
        new_x, new_y = np.empty_like(x), np.empty_like(y)
        advance(x, y, slots, new_x, new_y)
        x, y = new_x, new_y
    pick = rng.integers(0, _WARMUP_WALKERS, _WALKERS)
    x, y = x[pick], y[pick]
    steps = -(-points // _WALKERS)
    out_x = np.empty((steps, _WALKERS), np.float32)
    out_y = np.empty((steps, _WALKERS), np.float32)
    for i, slots in enumerate(rng.integers(0, _CHOICE_SLOTS, (steps, _WALKERS), dtype=np.int16)):
        advance(x, y, slots, out_x[i], out_y[i])
        x, y = out_x[i], out_y[i]
    return out_x.ravel()[:points], out_y.ravel()[:points]


def density(x: np.ndarray, y: np.ndarray, size: int, margin: float = 0.04) -> np.ndarray:
    """Counts per pixel of the points, fitted into the canvas (aspect kept, centred, small margin)."""
    low_x, high_x, low_y, high_y = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    extent = max(high_x - low_x, high_y - low_y) or 1.0
    scale = size * (1 - 2 * margin) / extent
    kernels = compiled.active()
    if kernels is not None:
        counts = np.zeros(size * size, np.int64)
        centre_x, centre_y = np.float32((low_x + high_x) / 2), np.float32((low_y + high_y) / 2)
        kernels.ifs_density(x, y, centre_x, centre_y, np.float32(scale), np.float32(size / 2), size, counts)
        return counts.reshape(size, size)
    column = ((x - np.float32((low_x + high_x) / 2)) * np.float32(scale) + np.float32(size / 2)).astype(np.int32)
    row = ((y - np.float32((low_y + high_y) / 2)) * np.float32(scale) + np.float32(size / 2)).astype(np.int32)
    np.clip(column, 0, size - 1, out=column)
    np.clip(row, 0, size - 1, out=row)
    row *= size
    row += column
    return np.bincount(row, minlength=size * size).reshape(size, size)


def smooth_background(rng: np.random.Generator, size: int) -> tuple[Image.Image, list]:
    """A smooth, fairly dark random colour field: a 2×2 grid of colours, interpolated bilinearly."""
    grid = rng.integers(0, 130, (2, 2, 3)).astype(np.uint8)
    field = Image.fromarray(grid, "RGB").resize((size, size), Image.Resampling.BILINEAR)
    return field, grid.tolist()


def _hsv_to_rgb(hue: np.ndarray, saturation: float, value: np.ndarray) -> np.ndarray:
    """Vectorised HSV → RGB for a few thousand colours (floats in [0, 1] in, uint8 out)."""
    sector = np.floor(hue * 6)
    fraction = hue * 6 - sector
    p = value * (1 - saturation)
    q = value * (1 - saturation * fraction)
    t = value * (1 - saturation * (1 - fraction))
    sector = sector.astype(np.int64) % 6
    red = np.choose(sector, [value, q, p, p, t, value])
    green = np.choose(sector, [t, value, value, q, p, p])
    blue = np.choose(sector, [p, p, t, value, value, q])
    return np.clip(np.stack([red, green, blue], axis=1) * 255 + 0.5, 0, 255).astype(np.uint8)


def colourise(counts: np.ndarray, rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict]:
    """Log-density to colour (hue = offset + span·density, random saturation and value) over a background.

    Colour and opacity depend on a pixel's count alone, so they are tabulated per count and gathered.
    """
    hue_offset = float(rng.random())
    hue_span = float(rng.uniform(0.15, 0.6))
    saturation = float(rng.uniform(0.55, 1.0))
    value = float(rng.uniform(0.75, 1.0))
    top = int(counts.max())
    level = np.log1p(np.arange(top + 1, dtype=np.float64)) / math.log1p(max(top, 1))
    colours = _hsv_to_rgb((hue_offset + hue_span * level) % 1.0, saturation, value * np.sqrt(level))
    opacity = np.clip(level * 2.5 * 255 + 0.5, 0, 255).astype(np.uint8)
    kernels = compiled.active()
    if kernels is not None:  # Pillow's composite, as kernels.ifs_colour blends
        background, grid = smooth_background(rng, size)
        pixels = np.empty((size, size, 3), np.uint8)
        flat_counts = np.ascontiguousarray(counts, np.int64).reshape(-1)
        kernels.ifs_colour(flat_counts, colours.reshape(-1, 1, 3), opacity, np.asarray(background), pixels)
        picture = pixels
    else:
        foreground = np.empty((size, size, 3), np.uint8)
        for channel in range(3):
            np.take(colours[:, channel], counts, out=foreground[..., channel])
        mask = Image.fromarray(np.take(opacity, counts), "L")
        background, grid = smooth_background(rng, size)
        picture = np.asarray(Image.composite(Image.fromarray(foreground, "RGB"), background, mask)).copy()
    params = {
        "hue_offset": hue_offset,
        "hue_span": hue_span,
        "saturation": saturation,
        "value": value,
        "background_grid": grid,
    }
    return picture, params


@compiled.counted
def make_ifs(rng: np.random.Generator, size: int, points: int = IFS_POINTS) -> Picture:
    """Draw systems until one covers at least ``MIN_COVERAGE`` of the canvas, then colour it."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        system = sample_ifs(rng)
        counts = density(*chaos_game(system, rng, points), size)
        coverage = float(np.count_nonzero(counts)) / counts.size
        if coverage >= MIN_COVERAGE:
            break
    pixels, colour = colourise(counts, rng, size)
    return Picture(pixels, {**system, "coverage": coverage, "attempts": attempt, "points": points, **colour})


# --- dead leaves and spectral noise ----------------------------------------------------------------


def make_dead_leaves(rng: np.random.Generator, size: int) -> Picture:
    """Occluding shapes, back to front, radii from a power law p(r) ∝ r⁻³ between 1.5% and 50% of the side.

    Enough shapes are drawn that the canvas is covered, as in the dead leaves model (about 2,000).
    """
    count = int(rng.integers(1500, 3000))
    r_min, r_max = 0.015 * size, 0.5 * size
    u = rng.random(count)
    radii = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5  # inverse CDF of the r⁻³ law
    centres = rng.uniform(-0.1 * size, 1.1 * size, (count, 2))
    palette = rng.integers(0, 256, (int(rng.integers(3, 7)), 3))  # a few base colours per picture
    jitter = rng.normal(0, 18, (count, 3))
    colours = np.clip(palette[rng.integers(0, len(palette), count)] + jitter, 0, 255).astype(np.int64)
    squares = rng.random(count) < rng.uniform(0, 0.6)
    background = tuple(int(c) for c in palette[0])
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    for (x, y), r, colour, square in zip(centres.tolist(), radii.tolist(), colours.tolist(), squares.tolist()):
        box = (x - r, y - r, x + r, y + r)
        (draw.rectangle if square else draw.ellipse)(box, fill=tuple(colour))
    return Picture(
        np.asarray(image).copy(), {"shapes": count, "square_share": float(squares.mean()), "palette": palette.tolist()}
    )


def make_spectral(rng: np.random.Generator, size: int) -> Picture:
    """Noise with amplitude ∝ 1/f^a (a ~ U(1, 2.5)) and random phases, per channel, mixed by a random matrix."""
    exponent = float(rng.uniform(1.0, 2.5))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    amplitude = radius**-exponent
    amplitude[0, 0] = 0.0
    phases = rng.uniform(0, 2 * math.pi, (3, *amplitude.shape))
    channels = np.fft.irfft2(amplitude * np.exp(1j * phases), s=(size, size))
    mix = rng.normal(size=(3, 3))
    channels = np.tensordot(mix, channels, axes=1)
    channels -= channels.mean(axis=(1, 2), keepdims=True)
    channels /= channels.std(axis=(1, 2), keepdims=True) + 1e-12
    offset = rng.uniform(0.3, 0.7, 3)[:, None, None]
    contrast = float(rng.uniform(0.12, 0.25))
    pixels = np.clip((offset + contrast * channels) * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return Picture(
        np.ascontiguousarray(pixels),
        {"exponent": exponent, "contrast": contrast, "colour_mix": mix.tolist(), "offset": offset.ravel().tolist()},
    )


GENERATORS: dict[str, Callable[[np.random.Generator, int], Picture]] = {
    "ifs": make_ifs,
    "dead_leaves": make_dead_leaves,
    "spectral": make_spectral,
}


def make_picture(kind: str, rng: np.random.Generator, size: int) -> tuple[str, Picture]:
    """One picture of ``kind`` (``mixed`` draws the kind first); returns the kind actually made."""
    if kind == "mixed":
        kind = ("ifs", "dead_leaves", "spectral")[int(rng.integers(3))]
    if kind not in GENERATORS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return kind, GENERATORS[kind](rng, size)
