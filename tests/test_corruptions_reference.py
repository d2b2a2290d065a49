"""The corruptions against their references.

- ``make_cifar_c.py``'s formulas (``cifar``, 32×32) and the ``imagenet_c`` package's (``imagenet``, 224×224),
  transcribed here with the libraries they call (scikit-image, OpenCV, scipy, Wand), fed with the very draws
  ipmix made (the fields a corruption draws from its recorded sub-seed, in the order its docstring gives);
- ``imagecorruptions`` (the maintained ``imagecorruptions-imaug``) at 224×224 with the ``imagenet`` constants:
  the deterministic corruptions pixel for pixel, the random ones in distribution (slow);
- ImageMagick's ``MagickMotionBlurImage`` through Wand, for the motion-blur kernel.

Each part is skipped cleanly where its libraries are absent; CI installs them (``.ci/run``).
"""

from __future__ import annotations

import ctypes
import io
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest import photo_like
from ipmix_cli.corruptions import corrupt, corrupt_with_trace, corruption_generator
from ipmix_cli.corruptions.common import field_generator
from ipmix_cli.corruptions.params import CIFAR, IMAGENET

DETERMINISTIC = (
    "contrast",
    "brightness",
    "saturate",
    "pixelate",
    "jpeg_compression",
    "gaussian_blur",
    "defocus_blur",
    "zoom_blur",
)


def _libraries():
    cv2 = pytest.importorskip("cv2")
    skimage = pytest.importorskip("skimage")
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    return cv2, skimage, scipy_ndimage


def _wand():
    """Wand's MagickMotionBlurImage, or a skip where Wand or ImageMagick is missing."""
    try:
        from wand.api import library
        from wand.image import Image as WandImage
    except ImportError as error:  # wand raises ImportError when the ImageMagick library is missing too
        pytest.skip(f"Wand with ImageMagick is not installed ({error})")
    library.MagickMotionBlurImage.argtypes = (ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_double)

    def motion_blur(pixels: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        with WandImage(blob=buffer.getvalue()) as picture:
            library.MagickMotionBlurImage(picture.wand, radius, sigma, angle)
            blob = picture.make_blob("png")
        with Image.open(io.BytesIO(blob)) as decoded:
            out = np.asarray(decoded)
        if out.ndim == 2 and pixels.ndim == 3:  # ImageMagick writes a grey PNG when every pixel is grey
            out = np.stack([out] * 3, axis=-1)
        return out

    return motion_blur


# --- ImageMagick's motion blur --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "radius,sigma,angle",
    [(10, 3, 12.3), (15, 5, -40.1), (20, 15, 44.9), (6, 1, -3), (12, 8, -100), (3.3, 1.2, 7), (9, 2.5, 180)],
)
def test_motion_blur_is_imagemagicks(radius, sigma, angle):
    from ipmix_cli.corruptions.motion import motion_blur

    imagemagick = _wand()
    image = photo_like(64, 96, seed=3)
    np.testing.assert_array_equal(motion_blur(image, radius, sigma, angle), imagemagick(image, radius, sigma, angle))
    layer = image[..., 0].copy()
    np.testing.assert_array_equal(motion_blur(layer, radius, sigma, angle), imagemagick(layer, radius, sigma, angle))


# --- OpenCV operations ----------------------------------------------------------------------------------------------


def test_opencv_operations_are_opencvs():
    cv2, _, _ = _libraries()
    from ipmix_cli.corruptions import cvops
    from ipmix_cli.corruptions.filters import box3, gaussian

    rng = np.random.default_rng(0)
    for seed in range(3):
        liquid = gaussian(rng.normal(0.65, 0.3, size=(96, 120)), 2 + seed)
        liquid[liquid < 0.68] = 0
        layer = (liquid * 255).astype(np.uint8)
        edges = cv2.Canny(layer, 50, 150)
        np.testing.assert_array_equal(cvops.canny(layer, 50, 150), edges)
        distance = cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)
        np.testing.assert_array_equal(cvops.distance_transform(255 - edges), distance)
        capped = np.minimum(distance, 20).astype(np.float32)
        np.testing.assert_allclose(box3(capped), cv2.blur(capped, (3, 3)), atol=1e-5)
        levels = cv2.blur(capped, (3, 3)).astype(np.uint8)
        np.testing.assert_array_equal(cvops.equalize_hist(levels), cv2.equalizeHist(levels))
        kernel = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        np.testing.assert_array_equal(cvops.filter2d_u8(levels, kernel), cv2.filter2D(levels, cv2.CV_8U, kernel))
        np.testing.assert_array_equal(cvops.blur3_u8(levels), cv2.blur(levels, (3, 3)))


def test_gaussian_is_scikit_images():
    _, skimage, _ = _libraries()
    from skimage.filters import gaussian as reference

    from ipmix_cli.corruptions.filters import gaussian

    rng = np.random.default_rng(0)
    for shape, sigma, mode, ours, truncate in [
        ((224, 224, 3), 6, "nearest", "edge", 4.0),
        ((40, 50, 3), 0.4, "nearest", "edge", 4.0),
        ((224, 224), 170.8, "reflect", "symmetric", 3.0),
        ((17, 900), 30.0, "reflect", "symmetric", 3.0),
        ((5, 7), 20.0, "nearest", "edge", 4.0),
    ]:
        x = rng.random(shape)
        axis = -1 if len(shape) == 3 else None
        expected = reference(x, sigma=sigma, mode=mode, truncate=truncate, channel_axis=axis)
        np.testing.assert_allclose(gaussian(x, sigma, ours, truncate), expected, atol=1e-12)


# --- transcriptions of the reference formulas, on ipmix's draws -------------------------------------------------


def _reference(name, x, c, draws, values, side, pictures):
    """The reference's formula for ``name`` on uint8 image ``x`` with constants ``c``, using ipmix's draws."""
    cv2, skimage, ndimage = _libraries()
    from skimage.filters import gaussian

    def clipped_zoom(img, zoom_factor):
        h = img.shape[0]
        ch = int(np.ceil(h / float(zoom_factor)))
        top = (h - ch) // 2
        img = ndimage.zoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
        trim_top = (img.shape[0] - h) // 2
        return img[trim_top : trim_top + h, trim_top : trim_top + h]

    g = field_generator(draws["seed"]) if "seed" in draws else None
    pil = Image.fromarray(x)
    if name == "gaussian_noise":
        x = np.array(x) / 255.0
        return np.clip(x + g.standard_normal(x.shape) * c, 0, 1) * 255
    if name == "speckle_noise":
        x = np.array(x) / 255.0
        return np.clip(x + x * (g.standard_normal(x.shape) * c), 0, 1) * 255
    if name == "impulse_noise":  # scikit-image's s&p: flipped with probability c, salt or pepper 1:1
        out = np.array(x) / 255.0
        flipped = g.random(out.shape) < c
        salted = g.random(out.shape) < 0.5
        out[flipped & salted] = 1
        out[flipped & ~salted] = 0
        return np.clip(out, 0, 1) * 255
    if name == "gaussian_blur":
        return np.clip(gaussian(np.array(x) / 255.0, sigma=c, channel_axis=-1), 0, 1) * 255
    if name == "glass_blur":
        x = np.uint8(gaussian(np.array(x) / 255.0, sigma=c[0], channel_axis=-1) * 255)
        shifts = g.integers(-c[1], c[1], size=(c[2], side - 2 * c[1], side - 2 * c[1], 2), dtype=np.int16)
        for i in range(c[2]):
            for a, h in enumerate(range(side - c[1], c[1], -1)):
                for b, w in enumerate(range(side - c[1], c[1], -1)):
                    dx, dy = shifts[i, a, b]
                    h_prime, w_prime = h + dy, w + dx
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]  # the reference's statement
        return np.clip(gaussian(x / 255.0, sigma=c[0], channel_axis=-1), 0, 1) * 255
    if name == "defocus_blur":
        radius, alias_blur = c
        if radius <= 8:
            grid, ksize = np.arange(-8, 8 + 1), (3, 3)
        else:
            grid, ksize = np.arange(-radius, radius + 1), (5, 5)
        gx, gy = np.meshgrid(grid, grid)
        disk = np.array((gx**2 + gy**2) <= radius**2, dtype=np.float32)
        disk /= np.sum(disk)
        kernel = cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)
        x = np.array(x) / 255.0
        channels = np.array([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]).transpose((1, 2, 0))
        return np.clip(channels, 0, 1) * 255
    if name == "motion_blur":
        return _wand()(np.array(x), c[0], c[1], draws["angle"])
    if name == "zoom_blur":
        x = (np.array(x) / 255.0).astype(np.float32)
        out = np.zeros_like(x)
        zooms = np.arange(*c)
        for zoom_factor in zooms:
            out += clipped_zoom(x, zoom_factor)
        return np.clip((x + out) / (len(zooms) + 1), 0, 1) * 255
    if name == "snow":
        x = np.array(x, dtype=np.float32) / 255.0
        snow_layer = g.normal(c[0], c[1], size=x.shape[:2])
        snow_layer = clipped_zoom(snow_layer[..., np.newaxis], c[2])
        snow_layer[snow_layer < c[3]] = 0
        layer = (np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8)
        snow_layer = (_wand()(layer, c[4], c[5], draws["angle"]) / 255.0)[..., np.newaxis]
        grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(side, side, 1)
        x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
        return np.clip(x + snow_layer + np.rot90(snow_layer, k=2), 0, 1) * 255
    if name == "frost":
        picture = cv2.imread(str(pictures.paths[draws["picture"]]))
        if side == 32:
            picture = cv2.resize(picture, (0, 0), fx=0.2, fy=0.2)
        crop = picture[draws["top"] : draws["top"] + side, draws["left"] : draws["left"] + side][..., [2, 1, 0]]
        return np.clip(c[0] * np.array(x) + c[1] * crop, 0, 255)
    if name == "fog":
        x = np.array(x) / 255.0
        max_val = x.max()
        x += c[0] * _plasma_fractal(32 if side == 32 else 256, c[1], g)[:side, :side][..., np.newaxis]
        return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255
    if name == "spatter":
        return _spatter(x, c, g, cv2, gaussian)
    if name == "contrast":
        x = np.array(x) / 255.0
        means = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - means) * c + means, 0, 1) * 255
    if name in ("brightness", "saturate"):
        x = skimage.color.rgb2hsv(np.array(x) / 255.0)
        if name == "brightness":
            x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
        else:
            x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
        return np.clip(skimage.color.hsv2rgb(x), 0, 1) * 255
    if name == "jpeg_compression":
        output = io.BytesIO()
        pil.save(output, "JPEG", quality=c)
        return np.asarray(Image.open(output))
    if name == "pixelate":
        pil = pil.resize((int(side * c), int(side * c)), Image.BOX)
        return np.asarray(pil.resize((side, side), Image.BOX))
    if name == "elastic_transform":
        return _elastic(x, c, draws, g, cv2, gaussian, ndimage)
    raise AssertionError(name)


def _plasma_fractal(mapsize, wibbledecay, g):
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * g.uniform(-wibble, wibble, array.shape)

    def fillsquares():
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2 : mapsize : stepsize, stepsize // 2 : mapsize : stepsize] = wibbledmean(squareaccum)

    def filldiamonds():
        drgrid = maparray[stepsize // 2 : mapsize : stepsize, stepsize // 2 : mapsize : stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, stepsize // 2 : mapsize : stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[stepsize // 2 : mapsize : stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def _spatter(x, c, g, cv2, gaussian):
    x = np.array(x, dtype=np.float32) / 255.0
    liquid_layer = g.normal(c[0], c[1], size=x.shape[:2])
    liquid_layer = gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if c[5] == 0:
        liquid_layer = (liquid_layer * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid_layer, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = cv2.cvtColor(liquid_layer * dist, cv2.COLOR_GRAY2BGRA)
        m /= np.max(m, axis=(0, 1))
        m *= c[4]
        ones = np.ones_like(m[..., :1])
        color = np.concatenate((175 / 255.0 * ones, 238 / 255.0 * ones, 238 / 255.0 * ones), axis=2)
        color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255
    m = np.where(liquid_layer > c[3], 1, 0)
    m = gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    ones = np.ones_like(x[..., :1])
    color = np.concatenate((63 / 255.0 * ones, 42 / 255.0 * ones, 20 / 255.0 * ones), axis=2)
    color *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return np.clip(x + color, 0, 1) * 255


def _elastic(image, c, draws, g, cv2, gaussian, ndimage):
    image = np.array(image, dtype=np.float32) / 255.0
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32(
        [
            center_square + square_size,
            [center_square[0] + square_size, center_square[1] - square_size],
            center_square - square_size,
        ]
    )
    pts2 = pts1 + np.array(draws["jitter"], dtype=np.float32)
    M = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, M, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(g.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian(g.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    return np.clip(ndimage.map_coordinates(image, indices, order=1, mode="reflect").reshape(shape), 0, 1) * 255


#: Where ipmix's arithmetic is not the reference's library's, bit for bit, the largest difference in 8-bit
#: levels allowed, and the share of pixels that may differ at all.
TOLERANCE = {
    "frost": (1, 0.5),  # OpenCV resizes cifar's pictures in 11-bit fixed point, ipmix in floating point
    "elastic_transform": (8, 0.2),  # OpenCV's warpAffine rounds its source positions to 1/32 pixel
    "defocus_blur": (1, 0.01),  # OpenCV filters with a float32 kernel
    "snow": (1, 0.001),  # the order of floating-point operations in the zoom and the grey (about 1 in 10^5)
    "spatter": (1, 0.001),  # scikit-image blurs the float32 mud mask in float32, ipmix in float64
}


def _installed_pictures():
    from ipmix_cli.corruptions import FrostUnavailable, find_frost_pictures

    try:
        pictures = find_frost_pictures()
    except FrostUnavailable:
        pytest.skip("the frost pictures are not installed (pip install --no-deps imagecorruptions-imaug)")
    if not pictures.is_reference():
        pytest.skip("the installed frost pictures are not the reference's")
    return pictures


NAMES = tuple(CIFAR)


@pytest.mark.slow
@pytest.mark.parametrize("preset,side", [("cifar", 32), ("imagenet", 224)])
@pytest.mark.parametrize("name", NAMES)
def test_formulas_on_the_same_draws(name, preset, side):
    _libraries()
    if name in ("motion_blur", "snow"):
        _wand()
    pictures = _installed_pictures() if name == "frost" else None
    if name == "shot_noise":
        pytest.skip("shot noise draws its Poisson counts by inversion: compared in distribution instead")
    table = CIFAR if preset == "cifar" else IMAGENET
    image = photo_like(side, side, seed=11)
    for severity in range(1, 6):
        if name == "glass_blur" and preset == "imagenet" and severity > 2:
            continue  # the Python sweep over 224×224 is slow; severities 1 and 2 cover both deltas' paths
        rng = corruption_generator(1, "img.png", name, severity)
        ours, trace = corrupt_with_trace(image, name, severity, rng, preset, pictures)
        c = table[name][severity - 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = np.uint8(_reference(name, image, c, trace["draws"], trace["values"], side, pictures))
        difference = np.abs(ours.astype(int) - expected.astype(int))
        largest, share = TOLERANCE.get(name, (0, 0.0))
        assert difference.max() <= largest and np.mean(difference > 0) <= share, (
            f"{name} {severity}: max {difference.max()}, {np.mean(difference > 0):.4f} of pixels differ"
        )


# --- imagecorruptions at 224×224 ------------------------------------------------------------------------------


def _imagecorruptions():
    _libraries()
    pytest.importorskip("numba")
    return pytest.importorskip("imagecorruptions")


@pytest.mark.slow
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_match_imagecorruptions(name):
    imagecorruptions = _imagecorruptions()
    image = photo_like(224, 224, seed=4)
    for severity in range(1, 6):
        ours = corrupt(image, name, severity, np.random.default_rng(0), "imagenet")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = imagecorruptions.corrupt(image, severity, name)
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1, f"{name} {severity}"


def _statistics(output: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """Per output: the mean change, and the energy of neighbour differences (how much texture it has)."""
    out = output.astype(np.float64)
    energy = np.mean(np.diff(out, axis=0) ** 2) + np.mean(np.diff(out, axis=1) ** 2)
    return float(np.mean(out - image)), float(energy)


#: The random corruptions imagecorruptions implements as the reference does, with draws per severity.
RANDOM = {
    "gaussian_noise": 12,
    "shot_noise": 12,
    "impulse_noise": 12,
    "speckle_noise": 12,
    "glass_blur": 8,
    "motion_blur": 16,
    "snow": 16,
    "fog": 16,
    "spatter": 16,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RANDOM))
def test_random_corruptions_match_imagecorruptions_in_distribution(name):
    """Over N draws each, the mean of each statistic agrees within 6 standard errors (the errors are estimated
    from N = 8 to 16 draws, so the difference follows Student's t with few degrees of freedom: 6 keeps the 90
    comparisons from failing by chance more than about once in a thousand runs), plus 0.2 % of the statistic's
    scale for the libraries' own rounding (e.g. imagecorruptions rounds its snow layer where ImageMagick
    truncates)."""
    imagecorruptions = _imagecorruptions()
    draws = RANDOM[name]
    image = photo_like(224, 224, seed=8).astype(np.float64)
    pixels = image.astype(np.uint8)
    for severity in range(1, 6):
        ours = np.array(
            [
                _statistics(
                    corrupt(pixels, name, severity, corruption_generator(i, "k", name, severity), "imagenet"), image
                )
                for i in range(draws)
            ]
        )
        theirs = []
        for i in range(draws):
            np.random.seed(1000 + i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs.append(_statistics(imagecorruptions.corrupt(pixels, severity, name), image))
        theirs = np.array(theirs)
        for column, statistic in enumerate(("mean change", "neighbour energy")):
            a, b = ours[:, column], theirs[:, column]
            error = math.sqrt(a.var(ddof=1) / draws + b.var(ddof=1) / draws)
            slack = 0.002 * max(abs(a.mean()), abs(b.mean()), 1.0)
            assert abs(a.mean() - b.mean()) <= 6 * error + slack, (
                f"{name} {severity} {statistic}: ours {a.mean():.3f} ± {a.std():.3f}, "
                f"imagecorruptions {b.mean():.3f} ± {b.std():.3f}"
            )
