"""The mixing picture's scale and cut by the kernels (``kernels.resize_window``) is Pillow's bilinear antialiased
resize, then the crop, bit for bit: over picture sizes, scales up and down on either axis, and windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("numba")

from conftest import photo_like  # noqa: E402
from ipmix_cli.engine import compiled  # noqa: E402
from ipmix_cli.mixsets import mixing_set  # noqa: E402
from ipmix_cli.mixsets.mixing_set import MixingSet  # noqa: E402

EXAMPLES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EXAMPLES
@given(
    picture=st.tuples(st.integers(1, 120), st.integers(1, 120)),
    cover=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    keep=st.sampled_from([None, "width", "height"]),
    data=st.data(),
)
def test_a_window_is_pillows_resize_then_crop(picture, cover, keep, data):
    height, width = picture
    scaled_width, scaled_height = cover
    if keep == "width":
        scaled_width = width
    elif keep == "height":
        scaled_height = height
    window_width = data.draw(st.integers(1, scaled_width))
    window_height = data.draw(st.integers(1, scaled_height))
    left = data.draw(st.integers(0, scaled_width - window_width))
    top = data.draw(st.integers(0, scaled_height - window_height))
    image = Image.fromarray(photo_like(height, width, height * 131 + width))
    expected = np.asarray(image.resize((scaled_width, scaled_height), Image.Resampling.BILINEAR))
    expected = expected[top : top + window_height, left : left + window_width]
    with compiled.using("compiled"):
        assert mixing_set._vertical_first_rule(compiled.active()) is not None
        made = mixing_set._scaled_window(image, (scaled_width, scaled_height), left, top, window_width, window_height)
    assert np.array_equal(made, expected)


@pytest.mark.parametrize("shape", [(32, 32), (224, 224), (60, 80), (90, 20), (7, 300)])
def test_draws_give_the_same_windows_on_both_paths(shape):
    pictures = [photo_like(70, 90, 1), photo_like(256, 256, 2), photo_like(33, 200, 3)]
    names = ["a", "b", "c"]
    windows = {}
    for path in ("plain", "compiled"):
        with compiled.using(path):
            chosen = MixingSet(pictures, names, cache_bytes=0)  # no cache: every draw scales its picture
            rng = np.random.default_rng(5)
            windows[path] = [chosen.draw(rng, *shape)[1] for _ in range(6)]
    assert all(np.array_equal(a, b) for a, b in zip(windows["plain"], windows["compiled"]))


def test_a_picture_of_the_covers_size_is_cut_as_it_is():
    picture = Image.fromarray(photo_like(40, 50, 9))
    with compiled.using("compiled"):
        made = mixing_set._scaled_window(picture, (50, 40), 3, 2, 30, 20)
    assert np.array_equal(made, np.asarray(picture)[2:22, 3:33])
