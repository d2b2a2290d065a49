"""The numpy affine transform equals Pillow's bilinear transform bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ipmix_cli.engine.affine import apply_tables, build_tables, cached_tables, shear
from ipmix_cli.engine.ops import _rotation_coefficients


def _pillow(image: np.ndarray, coefficients) -> np.ndarray:
    height, width = image.shape[:2]
    pil = Image.fromarray(image, "RGB")
    return np.array(pil.transform((width, height), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR))


@settings(max_examples=150, deadline=None)
@given(
    height=st.integers(2, 70),
    width=st.integers(2, 70),
    kind=st.sampled_from(["rotate", "shear_x", "shear_y", "general"]),
    amount=st.floats(-1.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_tables_reproduce_pillow_exactly(height, width, kind, amount, seed):
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    coefficients = {
        "rotate": _rotation_coefficients(round(amount * 30), width, height),
        "shear_x": (1, 0.3 * amount, 0, 0, 1, 0),
        "shear_y": (1, 0, 0, 0.3 * amount, 1, 0),
        "general": (0.9, 0.2 * amount, 1.5 * amount, -0.1, 1.1, -2.0 * amount),
    }[kind]
    before = image.copy()
    ours = apply_tables(image, build_tables(height, width, coefficients))
    assert ours.dtype == np.uint8 and ours.shape == image.shape
    assert np.array_equal(ours, _pillow(image, coefficients))
    assert np.array_equal(image, before)


def test_rotation_equals_pillow_rotate_and_tables_are_shared_and_read_only():
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for degrees in (-8, -1, 5, 29):
        coefficients = _rotation_coefficients(degrees, 32, 32)
        expected = np.array(Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR))
        assert np.array_equal(apply_tables(image, cached_tables(32, 32, coefficients)), expected)
    tables = cached_tables(32, 32, _rotation_coefficients(5, 32, 32))
    assert tables is cached_tables(32, 32, _rotation_coefficients(5, 32, 32))
    assert not any(array.flags.writeable for array in tables)


def test_non_contiguous_input_is_read_correctly():
    image = np.random.default_rng(4).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    view = image[:, ::-1]
    coefficients = _rotation_coefficients(7, 40, 30)
    expected = _pillow(np.ascontiguousarray(view), coefficients)
    assert np.array_equal(apply_tables(view, build_tables(30, 40, coefficients)), expected)


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 70),
    width=st.integers(1, 70),
    axis=st.sampled_from([0, 1]),
    factor=st.one_of(st.floats(-0.3, 0.3), st.floats(-3.0, 3.0), st.sampled_from([0.0, 0.5, -0.25, 1.0])),
    seed=st.integers(0, 2**32 - 1),
    contiguous=st.booleans(),
)
def test_shear_reproduces_pillow_exactly(height, width, axis, factor, seed, contiguous):
    image = np.random.default_rng(seed).integers(0, 256, (height, width + 1, 3), dtype=np.uint8)
    image = np.ascontiguousarray(image[:, :width]) if contiguous else image[:, ::-1][:, :width]
    coefficients = (1, factor, 0, 0, 1, 0) if axis == 1 else (1, 0, 0, factor, 1, 0)
    before = image.copy()
    ours = shear(image, factor, axis)
    assert ours.dtype == np.uint8 and ours.shape == image.shape
    assert np.array_equal(ours, _pillow(np.ascontiguousarray(image), coefficients))
    assert np.array_equal(image, before)
