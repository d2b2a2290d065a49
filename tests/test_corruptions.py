"""The corruption library: every corruption at every severity and size, determinism, purity, seeding, the
scaling rules at the reference sizes, frost pictures, and the compiled kernels against their fallbacks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import photo_like
from ipmix_cli.corruptions import (
    ALL,
    COMMON,
    EXTRA,
    CorruptionError,
    FrostPictures,
    FrostUnavailable,
    corrupt,
    corrupt_with_trace,
    corruption_generator,
    parse_severities,
    replay,
    resolve,
    select,
)
from ipmix_cli.corruptions import frost as frost_module
from ipmix_cli.corruptions.params import CIFAR, IMAGENET

SIZES = [(32, 32), (224, 224), (300, 200), (17, 900)]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Six stand-in frost pictures (the real ones are not shipped): smooth noise of the reference's sizes."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("frost")
    sizes = [(900, 600), (560, 315), (560, 315), (527, 350), (660, 495), (485, 323)]
    for index, (name, (width, height)) in enumerate(zip(frost_module.FROST_FILES, sizes)):
        pixels = photo_like(height, width, seed=100 + index)
        Image.fromarray(pixels).save(folder / name)
    return FrostPictures(folder)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ALL)
def test_every_severity_every_size(name, size, pictures):
    image = photo_like(*size, seed=7)
    before = image.copy()
    for severity in range(1, 6):
        out = corrupt(image, name, severity, corruption_generator(3, "a/b.png", name, severity), "auto", pictures)
        again = corrupt(image, name, severity, corruption_generator(3, "a/b.png", name, severity), "auto", pictures)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.array_equal(out, again), f"{name} {severity}: not deterministic"
        np.testing.assert_array_equal(image, before)  # the input is never modified


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (2, 40), (3, 1)], ids=str)
def test_tiny_images(name, size, pictures):
    for preset in ("cifar", "imagenet"):
        for severity in (1, 5):
            rng = corruption_generator(0, "x", name, severity)
            out = corrupt(photo_like(*size), name, severity, rng, preset, pictures)
            assert out.shape == (*size, 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_the_other_preset_at_each_reference_size(name, pictures):
    """imagenet constants on 32×32 and cifar constants on 224×224 work too (scaled down and up)."""
    for preset, side in (("imagenet", 32), ("cifar", 224)):
        image = photo_like(side, side)
        out = corrupt(image, name, 5, corruption_generator(0, "k", name, 5), preset, pictures)
        assert out.shape == image.shape


@pytest.mark.parametrize("name", ALL)
def test_trace_replays_after_json(name, pictures):
    image = photo_like(40, 56, seed=2)
    out, trace = corrupt_with_trace(image, name, 4, corruption_generator(9, "k", name, 4), "imagenet", pictures)
    trace = json.loads(json.dumps(trace))
    assert trace["corruption"] == name and trace["severity"] == 4 and trace["preset"] == "imagenet"
    np.testing.assert_array_equal(replay(image, trace, pictures), out)


@pytest.mark.slow
def test_random_corruptions_differ_between_seeds(pictures):
    image = photo_like(64, 64)
    deterministic = {
        "defocus_blur",
        "zoom_blur",
        "brightness",
        "contrast",
        "pixelate",
        "jpeg_compression",
        "gaussian_blur",
        "saturate",
    }
    for name in ALL:
        a = corrupt(image, name, 3, corruption_generator(1, "k", name, 3), "cifar", pictures)
        b = corrupt(image, name, 3, corruption_generator(2, "k", name, 3), "cifar", pictures)
        assert np.array_equal(a, b) == (name in deterministic), name


def test_generator_depends_on_its_output_alone():
    first = corruption_generator(5, "cat/1.jpg", "fog", 3).integers(1 << 62, size=4)
    assert np.array_equal(first, corruption_generator(5, "cat/1.jpg", "fog", 3).integers(1 << 62, size=4))
    others = [
        corruption_generator(6, "cat/1.jpg", "fog", 3),
        corruption_generator(5, "cat/2.jpg", "fog", 3),
        corruption_generator(5, "cat/1.jpg", "snow", 3),
        corruption_generator(5, "cat/1.jpg", "fog", 4),
    ]
    for other in others:
        assert not np.array_equal(first, other.integers(1 << 62, size=4))
    from ipmix_cli.seeding import generator_for, path_digest

    expected = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(5, spawn_key=(path_digest("cat/1.jpg"), path_digest("fog"), 3)))
    )
    assert np.array_equal(first, expected.integers(1 << 62, size=4))
    # never the generator of an augmented copy of the same input
    assert not np.array_equal(first, generator_for(5, "cat/1.jpg", 3).integers(1 << 62, size=4))


def test_selection_and_severities():
    assert len(COMMON) == 15 and len(EXTRA) == 4 and ALL == COMMON + EXTRA
    assert select("common") == COMMON and select("extra") == EXTRA and select("all") == ALL
    assert select("fog, gaussian_noise") == ("gaussian_noise", "fog")
    with pytest.raises(CorruptionError, match="unknown corruption 'fgo'"):
        select("fog,fgo")
    assert parse_severities("1-5") == (1, 2, 3, 4, 5)
    assert parse_severities("5,1,3") == (1, 3, 5)
    assert parse_severities("2-3,5") == (2, 3, 5)
    for bad in ("0", "6", "1-6", "x", ""):
        with pytest.raises(CorruptionError):
            parse_severities(bad)


def test_invalid_calls_are_clear():
    image = photo_like(8, 8)
    rng = np.random.default_rng(0)
    with pytest.raises(CorruptionError, match="severity"):
        corrupt(image, "fog", 6, rng)
    with pytest.raises(CorruptionError, match="preset"):
        corrupt(image, "fog", 1, rng, preset="tiny")
    with pytest.raises(CorruptionError, match="H×W×3 uint8"):
        corrupt(image.astype(np.float32), "fog", 1, rng)


# --- the scaling rules ------------------------------------------------------------------------------------------


def test_reference_sizes_get_the_reference_constants():
    assert resolve("glass_blur", 5, "auto", 224, 224).values == {"sigma": 1.5, "max_delta": 4, "iterations": 2}
    assert resolve("glass_blur", 2, "auto", 32, 32).values == {"sigma": 0.25, "max_delta": 1, "iterations": 1}
    assert resolve("defocus_blur", 3, "imagenet", 224, 224).values == {"radius": 6.0, "alias_blur": 0.5}
    assert resolve("elastic_transform", 1, "imagenet", 224, 224).values == pytest.approx(
        {"alpha": 488.0, "sigma": 244 * 0.7, "affine": 24.4}
    )
    assert resolve("pixelate", 5, "imagenet", 224, 224).values["width"] == int(224 * 0.25)
    assert resolve("pixelate", 1, "cifar", 32, 32).values["height"] == int(32 * 0.95)
    assert resolve("frost", 1, "cifar", 32, 32).values["picture_scale"] == 0.2
    assert resolve("zoom_blur", 1, "cifar", 32, 32).values["zooms"] == [float(z) for z in np.arange(1, 1.06, 0.01)]
    assert len(resolve("zoom_blur", 1, "cifar", 32, 32).values["zooms"]) == 7  # the reference's float arange
    for name in ALL:
        for severity in range(1, 6):
            assert resolve(name, severity, "imagenet", 224, 224).scale == 1.0
            assert resolve(name, severity, "cifar", 32, 32).scale == 1.0


def test_lengths_scale_with_the_shorter_side():
    base = resolve("motion_blur", 2, "imagenet", 224, 224).values
    double = resolve("motion_blur", 2, "imagenet", 448, 900).values
    assert double == {"radius": 2 * base["radius"], "sigma": 2 * base["sigma"]}
    elastic = resolve("elastic_transform", 2, "imagenet", 112, 112).values
    assert elastic["sigma"] == pytest.approx(244 * 0.08 / 2) and elastic["alpha"] == pytest.approx(244 * 2 / 4)
    # blocks of 8 pixels at twice the reference side
    assert resolve("pixelate", 5, "imagenet", 448, 600).values == {"factor": 0.25, "height": 56, "width": 75}
    assert resolve("snow", 1, "cifar", 16, 16).values["zoom"] == 1.0  # flakes never smaller than a pixel
    assert resolve("gaussian_noise", 3, "imagenet", 500, 500).values == {"sigma": 0.18}
    assert resolve("fog", 1, "auto", 64, 640).preset == "cifar"
    assert resolve("fog", 1, "auto", 65, 640).preset == "imagenet"


def test_constant_tables_are_complete():
    for table in (CIFAR, IMAGENET):
        assert set(table) == set(ALL)
        assert all(len(values) == 5 for values in table.values())


def test_fog_map_is_the_reference_crop_at_the_reference_size():
    from ipmix_cli.corruptions.weather import fog_map

    for side, scale, block in ((224, 1.0, 256), (32, 1.0, 32)):
        plasma = fog_map(side, side, scale, block, 2.0, seed=4)
        assert plasma.shape == (side, side) and plasma[0, 0] >= 0
    wide = fog_map(17, 900, 17 / 32, 32, 2.0, seed=4)
    assert wide.shape == (17, 900) and 0 <= wide.min() and wide.max() <= 1


def test_frost_crops_fit_any_shape(pictures):
    from ipmix_cli.corruptions.weather import frost_window

    picture = pictures.load(1)  # 315 × 560
    assert np.array_equal(frost_window(picture, 1.0, 5, 7, 224, 224), picture[5:229, 7:231])
    tall = frost_window(picture, 1.0, 0, 0, 700, 20)
    assert np.array_equal(tall[315:630], picture[::-1, :20])  # mirrored beyond the picture
    assert frost_window(picture, 0.1, 3, 0, 17, 900).shape == (17, 900, 3)


# --- frost pictures ---------------------------------------------------------------------------------------------


def test_frost_pictures_from_a_folder(pictures, tmp_path):
    assert pictures.size(0) == (600, 900)
    assert pictures.load(5).shape == (323, 485, 3)
    assert not pictures.is_reference()
    assert len(pictures.fingerprint()) == 64
    with pytest.raises(FrostUnavailable, match="frost6.jpg") as error:
        FrostPictures(tmp_path)
    assert "\n" not in str(error.value) and "pip install --no-deps imagecorruptions-imaug" in str(error.value)


def test_frost_is_refused_without_pictures(monkeypatch):
    monkeypatch.setattr(frost_module.importlib.metadata, "distributions", lambda: [])
    frost_module.installed_folder.cache_clear()
    try:
        from ipmix_cli.corruptions import available

        assert not available("frost") and available("fog")
        with pytest.raises(FrostUnavailable, match="--frost-pictures DIR"):
            corrupt(photo_like(32, 32), "frost", 1, np.random.default_rng(0))
    finally:
        frost_module.installed_folder.cache_clear()


def test_frost_pictures_found_through_an_installed_distribution(monkeypatch, pictures, tmp_path):
    """A distribution's RECORD names the pictures; they are found without importing its package."""
    import importlib.metadata
    import shutil

    site = tmp_path / "site"
    (site / "imagecorruptions" / "frost").mkdir(parents=True)
    for path in pictures.paths:
        shutil.copy(path, site / "imagecorruptions" / "frost" / path.name)
    info = site / "imagecorruptions_imaug-1.1.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imagecorruptions-imaug\nVersion: 1.1.5\n")
    records = [f"imagecorruptions/frost/{name},," for name in frost_module.FROST_FILES]
    (info / "RECORD").write_text("\n".join(records) + "\n")
    fake = importlib.metadata.PathDistribution(info)
    monkeypatch.setattr(frost_module.importlib.metadata, "distributions", lambda: [fake])
    frost_module.installed_folder.cache_clear()
    try:
        assert frost_module.installed_folder() == site / "imagecorruptions" / "frost"
        assert frost_module.find_frost_pictures().folder == site / "imagecorruptions" / "frost"
    finally:
        frost_module.installed_folder.cache_clear()


def test_frost_draws_five_of_six_pictures(pictures):
    setting = resolve("frost", 1, "imagenet", 224, 224)
    from ipmix_cli.corruptions.weather import sample_frost

    rng = np.random.default_rng(0)
    chosen = {sample_frost(rng, setting, pictures)["picture"] for _ in range(300)}
    assert chosen == {0, 1, 2, 3, 4}


# --- compiled kernels against their fallbacks ----------------------------------------------------------------------


def _kernels():
    from ipmix_cli.corruptions import blur, cvops, digital, filters, motion, noise, pointwise, weather
    from ipmix_cli.corruptions._compiled import Kernel

    for module in (blur, cvops, digital, filters, motion, noise, pointwise, weather):
        for name, value in vars(module).items():
            if isinstance(value, Kernel):
                yield f"{module.__name__.rsplit('.', 1)[-1]}.{name}", value


def _kernel_arguments(name, rng):
    image = photo_like(23, 31, seed=5)
    x = image / 255.0
    if name.endswith("_correlate_rows"):
        return rng.random((20, 9)), rng.random(5), np.clip(np.arange(-2, 18), 0, 19)
    if name.endswith("_correlate_columns"):
        return rng.random((4, 20, 3)), rng.random(5), np.clip(np.arange(-2, 18), 0, 19)
    if name.endswith("_glass_sweep"):
        return image, rng.integers(-2, 2, size=(2, 23 - 4, 31 - 4, 2)).astype(np.int16), 2
    if name.endswith("_zoom_sum"):
        from ipmix_cli.corruptions.blur import _stack
        from ipmix_cli.corruptions.filters import zoom_coordinates

        rows = _stack([zoom_coordinates(23, z) for z in (1.0, 1.07, 1.3)])
        columns = _stack([zoom_coordinates(31, z) for z in (1.0, 1.07, 1.3)])
        return (x.astype(np.float32), *rows, *columns, np.array([True, False, False]))
    if name.endswith("_motion_blur"):
        from ipmix_cli.corruptions.motion import kernel

        weights, offset_x, offset_y = kernel(5, 2, 150)
        pad = int(np.abs(offset_x).max())
        rows = np.pad(image, ((0, 0), (pad, pad), (0, 0)), mode="edge").astype(np.float64).reshape(23, -1)
        return rows, weights * 257.0, (offset_x + pad) * 3, offset_y, 31 * 3
    if name.endswith("_non_maximum"):
        layer = rng.integers(0, 3, size=(20, 30)) * 100
        dx = rng.integers(-300, 300, size=(20, 30)).astype(np.int32)
        dy = rng.integers(-300, 300, size=(20, 30)).astype(np.int32)
        return np.abs(dx) + np.abs(dy) + layer, dx, dy, 50
    if name.endswith("capped_box_levels"):
        return rng.uniform(0, 30, size=(20, 30)).astype(np.float32), 20.0
    if name.endswith("_sum3x3"):
        return rng.integers(0, 256, size=(20, 30)).astype(np.uint8), np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    if name.endswith("_zoom_layer"):
        from ipmix_cli.corruptions.filters import zoom_coordinates

        r0, wr, rl = zoom_coordinates(23, 2.5)
        c0, wc, cl = zoom_coordinates(31, 2.5)
        return rng.random((23, 31)), r0, wr, np.minimum(r0 + 1, rl), c0, wc, np.minimum(c0 + 1, cl)
    if name == "pointwise.impulse":
        return image, rng.random(image.shape), rng.random(image.shape), 0.2
    if name in ("pointwise.water", "pointwise.mud"):
        return image, rng.random((23, 31)).astype(np.float32), np.array([0.7, 0.9, 0.3], np.float32)
    if name.endswith("_diamond_square"):
        return 8, 12, 4, 1.7, rng.random(3 * (2 * 3 + 4 * 6))
    if name.endswith("_resample"):
        from ipmix_cli.corruptions.filters import resize_linear_coordinates

        r0, wr = resize_linear_coordinates(9, 0.4, 23)
        c0, wc = resize_linear_coordinates(40, 1.3, 31)
        return image, r0, wr, np.minimum(r0 + 1, 22), c0, wc, np.minimum(c0 + 1, 30)
    if name.endswith("_hysteresis"):
        candidate = rng.random((20, 30)) < 0.5
        return candidate, candidate & (rng.random((20, 30)) < 0.05)
    if name.endswith("_distance_5x5"):
        return ((rng.random((20, 30)) < 0.9).astype(np.uint8) * 255,)
    if name.endswith("_hsv_adjust"):
        return x, 5.0, 0.1, 0.2
    if name.endswith("_warp"):
        dy = rng.uniform(-30, 50, size=(23, 31)).astype(np.float32)
        dx = rng.uniform(-30, 60, size=(23, 31)).astype(np.float32)
        return x.astype(np.float32), np.array([[1.1, 0.2, -9.0], [-0.3, 0.9, 14.0]]), dx, dy, 1
    if name.endswith("_to_uint8"):
        values = rng.uniform(-0.2, 1.2, size=500)
        values[:256] = np.arange(256) / 255.0
        return values.astype(np.float32), np.float32(0), np.float32(1), np.float32(255)
    if name == "pointwise.add_noise":
        return image, rng.standard_normal(image.shape), 0.3, True
    if name == "pointwise.contrast":
        return x, np.mean(x, axis=(0, 1), keepdims=True), 0.3
    if name == "pointwise.fog":
        return image, rng.random(image.shape[:2]), 2.5, image.max() / 255.0
    if name == "pointwise.frost":
        return image, photo_like(23, 31, seed=9), 0.7, 0.6
    if name == "pointwise.snow":
        return image, photo_like(23, 31, seed=9)[..., 0].copy(), 0.55
    if name.endswith("_poisson_counts"):
        from ipmix_cli.corruptions.noise import _shot_table

        cdf, guide, _ = _shot_table(12)
        u = rng.random(image.shape)
        u.ravel()[:200] = cdf[image.ravel()[:200], 3]  # uniforms exactly on a step of the distribution
        return image, u, cdf, guide
    raise AssertionError(f"no arguments for kernel {name}")


@pytest.mark.slow
@pytest.mark.parametrize("name,kernel", list(_kernels()), ids=lambda v: v if isinstance(v, str) else "")
def test_kernels_match_their_fallbacks(name, kernel):
    rng = np.random.default_rng(1)
    arguments = _kernel_arguments(name, rng)
    compiled = kernel(*arguments)
    plain = kernel.fallback(*arguments)
    np.testing.assert_array_equal(compiled, plain)
    if name.endswith("_warp"):
        np.testing.assert_array_equal(kernel(*arguments[:4], 0), kernel.fallback(*arguments[:4], 0))


def test_numba_cache_is_per_user(monkeypatch, tmp_path):
    from ipmix_cli.corruptions._compiled import cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "ipmix" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


# --- statistics of the random corruptions (own draws) ---------------------------------------------------------


def test_impulse_noise_replaces_the_expected_share():
    image = np.full((64, 64, 3), 128, np.uint8)
    n = image.size
    for severity, amount in enumerate(IMAGENET["impulse_noise"], start=1):
        out = corrupt(image, "impulse_noise", severity, np.random.default_rng(severity), "imagenet")
        for level, p in ((255, amount / 2), (0, amount / 2)):
            share = np.mean(out == level)
            assert abs(share - p) <= 4 * math.sqrt(p * (1 - p) / n)


def test_shot_noise_is_poisson():
    photons = 12  # imagenet severity 3
    image = np.full((128, 128, 3), 85, np.uint8)  # rate 4
    out = corrupt(image, "shot_noise", 3, np.random.default_rng(0), "imagenet")
    counts = np.round(out / 255.0 * photons)
    rate = 85 / 255 * photons
    n = counts.size
    assert abs(counts.mean() - rate) <= 4 * math.sqrt(rate / n)
    assert abs(counts.var() - rate) <= 4 * rate * math.sqrt(2 / n) + 0.05


# --- the sheet and its figure ---------------------------------------------------------------------------------------


def test_sheet_tiles_are_the_outputs(pictures):
    from ipmix_cli.corruptions.sheet import corruption_sheet

    image = photo_like(24, 20)
    sheet = corruption_sheet(image, ("fog", "frost"), (2, 5), seed=4, key="k.png", frost_pictures=pictures)
    pixels = np.asarray(sheet)
    expected = corrupt(image, "fog", 5, corruption_generator(4, "k.png", "fog", 5), "auto")
    corners = np.argwhere(np.all(pixels[:-23, :-19] == expected[0, 0], axis=-1))
    assert any(np.array_equal(pixels[y : y + 24, x : x + 20], expected) for y, x in corners)


def test_sheet_leaves_frost_out_without_pictures(monkeypatch):
    from ipmix_cli.corruptions.sheet import corruption_sheet

    monkeypatch.setattr(frost_module.importlib.metadata, "distributions", lambda: [])
    frost_module.installed_folder.cache_clear()
    try:
        small = corruption_sheet(photo_like(16, 16), ("fog",), (1,))
        both = corruption_sheet(photo_like(16, 16), ("fog", "frost"), (1,))
        assert both.size[1] > small.size[1]  # one more title line, no more rows
        with pytest.raises(FrostUnavailable):
            corruption_sheet(photo_like(16, 16), ("frost",), (1,), skip_missing=False)
    finally:
        frost_module.installed_folder.cache_clear()


@pytest.mark.slow
def test_corruption_figure_script(tmp_path):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "docs" / "make_corruption_figure.py"
    namespace = runpy.run_path(str(script))
    assert namespace["main"](["--out", str(tmp_path), "--small"]) == 0
    assert (tmp_path / "corruptions.png").stat().st_size > 0


@pytest.mark.slow
def test_without_numba_the_same_bytes(pictures, tmp_path):
    """Every corruption run by the numpy fallbacks (IPMIX_NO_NUMBA=1, another process) gives the same bytes."""
    import hashlib
    import os
    import subprocess
    import sys

    script = f"""
import hashlib, sys
from conftest import photo_like
from ipmix_cli.corruptions import ALL, FrostPictures, corrupt, corruption_generator
from ipmix_cli.corruptions import _compiled
assert not _compiled.HAVE_NUMBA
pictures = FrostPictures({str(pictures.folder)!r})
for name in ALL:
    for severity in (1, 5):
        for size, preset in (((20, 26), "cifar"), ((40, 34), "imagenet")):
            out = corrupt(photo_like(*size, seed=3), name, severity, corruption_generator(0, "k", name, severity),
                          preset, pictures)
            print(name, severity, preset, hashlib.sha256(out.tobytes()).hexdigest())
"""
    environment = dict(os.environ, IPMIX_NO_NUMBA="1", PYTHONPATH=os.path.dirname(__file__))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=600)
    assert done.returncode == 0, done.stderr
    expected = []
    for name in ALL:
        for severity in (1, 5):
            for size, preset in (((20, 26), "cifar"), ((40, 34), "imagenet")):
                rng = corruption_generator(0, "k", name, severity)
                out = corrupt(photo_like(*size, seed=3), name, severity, rng, preset, pictures)
                expected.append(f"{name} {severity} {preset} {hashlib.sha256(out.tobytes()).hexdigest()}")
    assert done.stdout.split("\n")[: len(expected)] == expected


def test_layer_pixels_bound_the_layers():
    from ipmix_cli.corruptions import layer_pixels

    for name in ALL:
        for size in ((224, 224), (17, 900), (2, 2000), (3000, 2)):
            for preset in ("cifar", "imagenet"):
                pixels = layer_pixels(name, 5, preset, *size)
                assert size[0] * size[1] <= pixels <= 12 * size[0] * size[1] + 300_000, (name, size, preset, pixels)
    from ipmix_cli.corruptions.weather import fog_map

    for size in ((17, 900), (2, 2000), (300, 200)):
        rows, columns = size
        assert fog_map(rows, columns, min(size) / 224, 256, 2.0, 1).shape == size
