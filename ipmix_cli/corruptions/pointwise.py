"""Fused per-value tails of the corruptions: the reference's last few array operations in one pass, with the
same floating-point operations in the same order (so the same bytes), instead of one temporary array each."""

from __future__ import annotations

import numpy as np

from ._compiled import njit


def _clip255(value):
    return np.uint8(min(max(value, 0.0), 1.0) * 255.0)


def _add_noise_numpy(image, noise, sigma, multiplicative):
    x = image / 255.0
    noise = noise * sigma
    out = x + x * noise if multiplicative else x + noise
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


@njit(fallback=_add_noise_numpy)
def add_noise(image, noise, sigma, multiplicative):
    """``x + n·sigma`` (gaussian) or ``x + x·(n·sigma)`` (speckle), ``x = v / 255``, to 8 bits."""
    flat = image.ravel()
    flat_noise = noise.ravel()
    out = np.empty(flat.shape[0], dtype=np.uint8)
    for i in range(flat.shape[0]):
        x = flat[i] / 255.0
        n = flat_noise[i] * sigma
        value = x + x * n if multiplicative else x + n
        out[i] = np.uint8(min(max(value, 0.0), 1.0) * 255.0)
    return out.reshape(image.shape)


def _contrast_numpy(x, means, factor):
    return (np.clip((x - means) * factor + means, 0, 1) * 255).astype(np.uint8)


@njit(fallback=_contrast_numpy)
def contrast(x, means, factor):
    """``(x - mean) · factor + mean`` per channel, to 8 bits."""
    height, width, depth = x.shape
    out = np.empty((height, width, depth), dtype=np.uint8)
    for i in range(height):
        for j in range(width):
            for c in range(depth):
                m = means[0, 0, c]
                value = (x[i, j, c] - m) * factor + m
                out[i, j, c] = np.uint8(min(max(value, 0.0), 1.0) * 255.0)
    return out


def _fog_numpy(image, plasma, strength, max_value):
    x = image / 255.0 + strength * plasma[..., None]
    return (np.clip(x * max_value / (max_value + strength), 0, 1) * 255).astype(np.uint8)


@njit(fallback=_fog_numpy)
def fog(image, plasma, strength, max_value):
    """``(x + strength · plasma) · max / (max + strength)``, to 8 bits."""
    height, width, depth = image.shape
    out = np.empty((height, width, depth), dtype=np.uint8)
    denominator = max_value + strength
    for i in range(height):
        for j in range(width):
            layer = strength * plasma[i, j]
            for c in range(depth):
                value = (image[i, j, c] / 255.0 + layer) * max_value / denominator
                out[i, j, c] = np.uint8(min(max(value, 0.0), 1.0) * 255.0)
    return out


def _frost_numpy(image, window, image_weight, frost_weight):
    return np.clip(image_weight * image + frost_weight * window, 0, 255).astype(np.uint8)


@njit(fallback=_frost_numpy)
def frost(image, window, image_weight, frost_weight):
    """``a · x + b · frost`` on 0–255, clipped and truncated."""
    flat = image.ravel()
    flat_window = window.ravel()
    out = np.empty(flat.shape[0], dtype=np.uint8)
    for i in range(flat.shape[0]):
        value = image_weight * np.float64(flat[i]) + frost_weight * np.float64(flat_window[i])
        out[i] = np.uint8(min(max(value, 0.0), 255.0))
    return out.reshape(image.shape)


def _snow_numpy(image, flakes, blend):
    x = image.astype(np.float32) / np.float32(255)
    grey = (x[..., 0] * np.float32(0.299) + x[..., 1] * np.float32(0.587) + x[..., 2] * np.float32(0.114))[..., None]
    x = np.float32(blend) * x + np.float32(1 - blend) * np.maximum(x, grey * np.float32(1.5) + np.float32(0.5))
    layer = (flakes / 255.0)[..., None]
    return (np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255).astype(np.uint8)


@njit(fallback=_snow_numpy)
def snow(image, flakes, blend):
    """The image brightened towards ``1.5 · grey + 0.5`` (float32, as the reference), plus the flakes and the
    flakes turned by 180° (float64), to 8 bits."""
    height, width, depth = image.shape
    out = np.empty((height, width, depth), dtype=np.uint8)
    keep = np.float32(blend)
    mix = np.float32(1 - blend)
    for i in range(height):
        for j in range(width):
            r = np.float32(image[i, j, 0]) / np.float32(255)
            g = np.float32(image[i, j, 1]) / np.float32(255)
            b = np.float32(image[i, j, 2]) / np.float32(255)
            grey = r * np.float32(0.299) + g * np.float32(0.587) + b * np.float32(0.114)
            bright = grey * np.float32(1.5) + np.float32(0.5)
            layer = flakes[i, j] / 255.0
            turned = flakes[height - 1 - i, width - 1 - j] / 255.0
            for c in range(depth):
                x = np.float32(image[i, j, c]) / np.float32(255)
                y = keep * x + mix * max(x, bright)
                value = (np.float64(y) + layer) + turned
                out[i, j, c] = np.uint8(min(max(value, 0.0), 1.0) * 255.0)
    return out


def _impulse_numpy(image, flip, salt, amount):
    out = image.copy()
    flipped = flip < amount
    salted = salt < 0.5
    out[flipped & salted] = 255
    out[flipped & ~salted] = 0
    return out


@njit(fallback=_impulse_numpy)
def impulse(image, flip, salt, amount):
    """Values with ``flip < amount`` become 255 where ``salt < 0.5``, else 0; the others stay."""
    flat = image.ravel()
    flat_flip = flip.ravel()
    flat_salt = salt.ravel()
    out = np.empty(flat.shape[0], dtype=np.uint8)
    for i in range(flat.shape[0]):
        if flat_flip[i] < amount:
            out[i] = 255 if flat_salt[i] < 0.5 else 0
        else:
            out[i] = flat[i]
    return out.reshape(image.shape)


def _water_numpy(image, shading, colour):
    x = image.astype(np.float32) / np.float32(255)
    return (np.clip(x + shading[..., None] * colour[None, None, :], 0, 1) * np.float32(255)).astype(np.uint8)


@njit(fallback=_water_numpy)
def water(image, shading, colour):
    """``x + shading · colour`` in float32 (``x = v / 255``), to 8 bits."""
    height, width, depth = image.shape
    out = np.empty((height, width, depth), dtype=np.uint8)
    for i in range(height):
        for j in range(width):
            for c in range(depth):
                value = np.float32(image[i, j, c]) / np.float32(255) + shading[i, j] * colour[c]
                out[i, j, c] = np.uint8(min(max(value, np.float32(0)), np.float32(1)) * np.float32(255))
    return out


def _mud_numpy(image, mask, colour):
    x = image.astype(np.float32) / np.float32(255)
    painted = x * (1 - mask[..., None]) + colour[None, None, :] * mask[..., None]
    return (np.clip(painted, 0, 1) * np.float32(255)).astype(np.uint8)


@njit(fallback=_mud_numpy)
def mud(image, mask, colour):
    """``x · (1 - mask) + colour · mask`` in float32, to 8 bits."""
    height, width, depth = image.shape
    out = np.empty((height, width, depth), dtype=np.uint8)
    for i in range(height):
        for j in range(width):
            m = mask[i, j]
            for c in range(depth):
                value = np.float32(image[i, j, c]) / np.float32(255) * (np.float32(1) - m) + colour[c] * m
                out[i, j, c] = np.uint8(min(max(value, np.float32(0)), np.float32(1)) * np.float32(255))
    return out
