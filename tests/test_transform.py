"""The online transform and mixing sets (SPEC §1.5, §5)."""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from conftest import photo_like
from ipmix_cli import AugMix, IPMix, IPMixConfig, PixMix, generator_for
from ipmix_cli.engine.copies import augment_copy
from ipmix_cli.mixsets.mixing_set import MixingSet, MixingSetError, cover_size


@pytest.fixture
def mixing_folder(tmp_path):
    folder = tmp_path / "mixing"
    (folder / "sub").mkdir(parents=True)
    for index in range(5):
        Image.fromarray(photo_like(60 + 7 * index, 80, seed=index)).save(folder / f"p{index}.png")
    Image.fromarray(photo_like(40, 40, seed=9)).save(folder / "sub" / "deep.jpg")
    (folder / "metadata.jsonl").write_text("{}\n")
    return folder


CIFAR, IMAGENET = IPMixConfig.preset("cifar").cover_ratio, IPMixConfig.preset("imagenet").cover_ratio


def test_each_variant_covers_at_its_reference_ratio():
    assert CIFAR == (36, 32) and IMAGENET == (256, 224)
    # the reference sides: Resize(36) then RandomCrop(32); Resize(256) then RandomCrop(224)
    assert cover_size(256, 256, 32, 32, CIFAR) == (36, 36)
    assert cover_size(256, 256, 224, 224, IMAGENET) == (256, 256)
    assert cover_size(500, 500, 224, 224, IMAGENET) == (256, 256)
    # other sizes keep the ratio: 64 · 36/32 = 72 and 64 · 256/224 = 73.14 → 73
    assert cover_size(256, 256, 64, 64, CIFAR) == (72, 72)
    assert cover_size(256, 256, 64, 64, IMAGENET) == (73, 73)
    # a 300×200 image: the width limits; 300 · 9/8 = 337.5 → 338 and 300 · 8/7 = 342.86 → 343
    assert cover_size(256, 256, 200, 300, CIFAR) == (338, 338)
    assert cover_size(256, 256, 200, 300, IMAGENET) == (343, 343)
    # a tall picture (400×100) for a 50×60 image: the width limits, 60 · 9/8 = 67.5 → 68
    assert cover_size(400, 100, 50, 60, CIFAR) == (68, 270)


sides = st.integers(1, 5000)


@given(sides, sides, sides, sides, st.sampled_from([(36, 32), (256, 224), (1, 1), (7, 3)]))
def test_cover_size_is_the_exact_rational_formula(picture_height, picture_width, height, width, ratio):
    # cover_size runs in integers for speed; it must equal the definition in exact rationals, ties included
    factor = Fraction(*ratio) * max(Fraction(width, picture_width), Fraction(height, picture_height))
    expected = (
        max(width, int(picture_width * factor + Fraction(1, 2))),
        max(height, int(picture_height * factor + Fraction(1, 2))),
    )
    assert cover_size(picture_height, picture_width, height, width, ratio) == expected


@pytest.mark.parametrize(
    "height, width, preset, expected",
    [
        (32, 32, "cifar", [36, 36]),
        (224, 224, "imagenet", [256, 256]),
        (64, 64, "cifar", [72, 72]),
        (64, 64, "imagenet", [73, 73]),
        (200, 300, "cifar", [338, 338]),
        (200, 300, "imagenet", [343, 343]),
        (32, 32, "auto", [36, 36]),  # auto: cifar at a shorter side <= 64
        (100, 120, "auto", [137, 137]),  # auto: imagenet above; 120 · 8/7 = 137.1
    ],
)
def test_copies_cut_their_mixing_window_from_the_variants_cover(height, width, preset, expected, tmp_path):
    from ipmix_cli.engine.copies import ConfigResolver

    square = MixingSet([photo_like(256, 256, seed=4)], ["square"])
    config = ConfigResolver(preset)(height, width)
    made = augment_copy(photo_like(height, width), square, np.random.default_rng(0), config)
    assert made.mixing_size == expected
    left, top = made.mixing_crop
    assert 0 <= left <= expected[0] - width and 0 <= top <= expected[1] - height
    assert np.array_equal(made.mixing_window, square.window("square", expected, made.mixing_crop, height, width))


def test_mixing_set_loads_a_folder_recursively_and_skips_non_images(mixing_folder):
    mixing = MixingSet.from_folder(mixing_folder)
    assert mixing.names == ["p0.png", "p1.png", "p2.png", "p3.png", "p4.png", "sub/deep.jpg"]
    name, crop, corner, size = mixing.draw(np.random.default_rng(0), 31, 47)
    assert name in mixing.names and crop.shape == (31, 47, 3) and crop.dtype == np.uint8
    assert len(corner) == 2
    assert len(mixing.fingerprint) == 64
    assert MixingSet.from_folder(mixing_folder).fingerprint == mixing.fingerprint


def test_mixing_set_draws_every_picture(mixing_folder):
    mixing = MixingSet.from_folder(mixing_folder)
    rng = np.random.default_rng(1)
    assert {mixing.draw(rng, 16, 16)[0] for _ in range(300)} == set(mixing.names)


def test_mixing_set_errors_are_clear(tmp_path):
    with pytest.raises(MixingSetError, match="is not a folder"):
        MixingSet.from_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MixingSetError, match="holds no readable images"):
        MixingSet.from_folder(tmp_path / "empty")


def test_scaled_pictures_are_cached_within_the_byte_budget(mixing_folder):
    count = len(MixingSet.from_folder(mixing_folder))
    mixing = MixingSet.from_folder(mixing_folder, cache_bytes=count * 36 * 36 * 3)  # the set scaled for 32×32
    rng = np.random.default_rng(0)
    for _ in range(50):
        mixing.draw(rng, 32, 32)
    assert 1 <= len(mixing._scaled) <= count and mixing._scaled.bytes <= mixing.cache_bytes
    clone = pickle.loads(pickle.dumps(mixing))  # what a worker receives: the pictures, no cache
    assert len(clone._scaled) == 0 and clone._scaled.bytes == 0 and clone._scaled.budget == mixing.cache_bytes
    name, crop, window, size = clone.draw(np.random.default_rng(1), 32, 32)
    assert (name, window, size) == mixing.draw(np.random.default_rng(1), 32, 32)[::2] + (size,)
    assert np.array_equal(crop, mixing.draw(np.random.default_rng(1), 32, 32)[1])


@pytest.mark.slow
def test_transform_is_picklable_and_reproducible(mixing_folder):
    transform = IPMix(mixing_folder, preset="cifar")
    clone = pickle.loads(pickle.dumps(transform))
    image = Image.fromarray(photo_like(32, 32, 3))
    first = transform(image, rng=generator_for(0, "x.png", 0))
    second = clone(image, rng=generator_for(0, "x.png", 0))
    assert isinstance(first, Image.Image) and first.size == (32, 32) and first.mode == "RGB"
    assert first.tobytes() == second.tobytes()
    assert len(pickle.dumps(transform)) < 10_000  # pictures are reloaded, not shipped
    builtin = IPMix(preset="cifar")
    builtin(image, rng=generator_for(0, "x.png", 0))  # loads (and here first builds) the built-in set
    assert len(pickle.dumps(builtin)) < 10_000
    given = IPMix(MixingSet.from_folder(mixing_folder))
    assert len(pickle.loads(pickle.dumps(given)).mixing_set) == 6  # an object the caller gave travels


def test_transform_equals_the_shared_code_path(mixing_folder):
    transform = IPMix(mixing_folder, preset="auto", severity=2)
    pixels = photo_like(40, 90, 4)
    ours = np.array(transform(pixels, rng=np.random.default_rng(5)))
    config = IPMixConfig.for_image("auto", 40, 90, severity=2)
    expected = augment_copy(pixels, MixingSet.from_folder(mixing_folder), np.random.default_rng(5), config)
    assert np.array_equal(ours, expected.pixels)


def test_transform_accepts_modes_and_arrays(mixing_folder):
    """Each comes back in its own type and layout (tests/test_api.py goes through every case)."""
    transform = IPMix(mixing_folder)
    for image, mode in (
        (Image.fromarray(photo_like(20, 30)).convert("L"), "L"),
        (Image.fromarray(photo_like(20, 30)).convert("RGBA"), "RGBA"),
        (Image.fromarray(photo_like(20, 30)).convert("P"), "RGB"),
    ):
        out = transform(image)
        assert out.size == (30, 20) and out.mode == mode
    grey = photo_like(20, 30)[..., 0]
    assert transform(grey).shape == grey.shape


def test_transform_rejects_bad_overrides():
    with pytest.raises(ValueError, match="severity must be between 1 and 10"):
        IPMix(severity=0)


@pytest.mark.parametrize("transform", [IPMix, PixMix])
def test_a_transform_with_an_unusable_mixing_folder_fails_at_construction(tmp_path, transform):
    """Not on the first call, inside a DataLoader worker: the error names the folder and the fix."""
    with pytest.raises(MixingSetError, match="is not a folder"):
        transform(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"not a picture")
    with pytest.raises(MixingSetError, match="cannot be decoded: a.png"):
        transform(tmp_path / "bad")
    (tmp_path / "bad" / "a.png").unlink()
    with pytest.raises(MixingSetError, match="ipmix fractals build"):
        transform(tmp_path / "bad")
    assert AugMix().mixing_set is None  # AugMix mixes no pictures: nothing to load or check


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (1, 7)])
def test_transforms_refuse_images_below_2x2_as_the_functions_do(mixing_folder, shape):
    for transform in (IPMix(mixing_folder), AugMix(), PixMix(mixing_folder)):
        with pytest.raises(ValueError, match="at least 2×2"):
            transform(np.zeros((*shape, 3), np.uint8))
