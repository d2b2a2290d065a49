"""The IFS pictures by the kernels (``kernels.ifs_walk``, ``ifs_density``, ``ifs_colour``) are the plain path's
pictures exactly: the same draws, the same float32 steps, Pillow's composite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("numba")

from conftest import on_both_paths  # noqa: E402
from ipmix_cli.engine import compiled  # noqa: E402
from ipmix_cli.mixsets import fractals  # noqa: E402
from ipmix_cli.seeding import generator_for_index  # noqa: E402

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


both = on_both_paths


@pytest.mark.slow
@EXAMPLES
@given(
    size=st.integers(2, 160) | st.sampled_from([2, 3, 32, 256]),
    points=st.integers(1, 30_000) | st.sampled_from([1, 4_999, 5_000, 5_001, fractals.IFS_POINTS]),
    seed=st.integers(0, 2**32 - 1),
)
def test_ifs_pictures_are_the_plain_pictures(size, points, seed):
    plain, fast = both(lambda: fractals.make_ifs(generator_for_index(seed, 1), size, points))
    assert fast.pixels.dtype == np.uint8 and fast.pixels.shape == (size, size, 3)
    assert np.array_equal(fast.pixels, plain.pixels)
    assert fast.params == plain.params


@pytest.mark.parametrize("size, index", [(32, 0), (64, 1), (19, 2), (256, 3)])
def test_a_few_ifs_pictures_are_the_plain_pictures(size, index):
    plain, fast = both(lambda: fractals.make_ifs(generator_for_index(11, index), size))
    assert np.array_equal(fast.pixels, plain.pixels) and fast.params == plain.params


@EXAMPLES
@given(seed=st.integers(0, 2**32 - 1), points=st.integers(1, 12_000))
def test_the_walk_and_the_density_are_the_plain_ones(seed, points):
    system = fractals.sample_ifs(np.random.default_rng(seed))
    plain, fast = both(lambda: fractals.chaos_game(system, np.random.default_rng(seed + 1), points))
    assert np.array_equal(plain[0], fast[0]) and np.array_equal(plain[1], fast[1])
    plain_counts, fast_counts = both(lambda: fractals.density(*plain, 97))
    assert np.array_equal(plain_counts, fast_counts)


def test_the_composite_is_pillows_for_every_opacity():
    """Every (opacity, background, colour) combination blends as ``Image.composite`` does."""
    rng = np.random.default_rng(0)
    count = 256 * 64
    counts = np.arange(count, dtype=np.int64)  # pixel p shows colour p with opacity p % 256
    colours = rng.integers(0, 256, (count, 1, 3), dtype=np.uint8)
    opacity = (np.arange(count) % 256).astype(np.uint8)
    background = rng.integers(0, 256, (256, 64, 3), dtype=np.uint8)
    with compiled.using("compiled"):
        out = np.empty((256, 64, 3), np.uint8)
        compiled.active().ifs_colour(counts, colours, opacity, background, out)
    expected = Image.composite(
        Image.fromarray(colours.reshape(256, 64, 3)),
        Image.fromarray(background),
        Image.fromarray(opacity.reshape(256, 64)),
    )
    assert np.array_equal(out, np.asarray(expected))
