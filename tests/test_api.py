"""The Python API in a training loop (SPEC §5, issue 22): ``import ipmix``, every input type in and out, ``p``,
where the randomness comes from without torch, the albumentations calling convention and torchvision's
argument names. torch tensors: tests/test_api_torch.py; the framework adapters: test_api_torchvision.py and
test_api_albumentations.py."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from PIL import Image

import ipmix
import ipmix_cli
from conftest import assert_share, photo_like
from ipmix_cli.engine.copies import ConfigResolver, augment_copy
from ipmix_cli.engine.ops import AUGMIX_ALL_OPS
from ipmix_cli.mixsets.mixing_set import MixingSet


@pytest.fixture(scope="module")
def mixing():
    return MixingSet([photo_like(64, 64, seed=s) for s in range(3)], ["a", "b", "c"])


@pytest.fixture
def no_torch(monkeypatch):
    """The rules without torch, even where another test imported it: the transforms look in sys.modules."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "torch.utils.data", raising=False)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_import_ipmix_is_the_public_name_and_ipmix_cli_keeps_working():
    assert ipmix.IPMix is ipmix_cli.IPMix and ipmix.AugMix is ipmix_cli.AugMix and ipmix.PixMix is ipmix_cli.PixMix
    assert ipmix.__version__ == ipmix_cli.__version__
    for name in ipmix.__all__:
        assert getattr(ipmix, name) is not None, name
    assert ipmix.Replayer is ipmix_cli.Replayer  # loaded on demand, as from ipmix_cli
    config = ipmix.IPMixConfig.preset("cifar")
    out = ipmix.ipmix(photo_like(16, 16), photo_like(16, 16, 1), rng(), config)
    assert out.shape == (16, 16, 3)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ipmix.nothing  # noqa: B018


def test_the_framework_adapters_say_what_they_need():
    for framework in ("torchvision", "albumentations"):
        try:
            __import__(framework)
        except ImportError:
            with pytest.raises(ImportError, match=framework):
                __import__(f"ipmix.{framework}")


# Types in and out --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, returned",
    [("RGB", "RGB"), ("L", "L"), ("RGBA", "RGBA"), ("LA", "LA"), ("P", "RGB"), ("CMYK", "RGB"), ("I;16", "RGB")],
)
def test_pil_images_come_back_as_pil_images_of_their_mode(mixing, mode, returned):
    image = Image.fromarray(photo_like(21, 34)).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    before = image.tobytes()
    out = ipmix.IPMix(mixing)(image, rng=rng())
    assert isinstance(out, Image.Image) and out.mode == returned and out.size == (34, 21)
    assert image.tobytes() == before
    if "A" in returned:
        assert np.all(np.asarray(out)[..., -1] == 255)  # composited before augmenting, so opaque


def image_of(shape: tuple[int, ...]) -> np.ndarray:
    """A 21×34 uint8 image with ``shape``'s channels: grey, grey + alpha, RGB or RGBA (a varied alpha)."""
    pixels, alpha = photo_like(21, 34), photo_like(21, 34, 7)[..., :1]
    if len(shape) == 2:
        return pixels[..., 0]
    return {
        1: pixels[..., :1],
        2: np.concatenate([pixels[..., :1], alpha], axis=2),
        3: pixels,
        4: np.concatenate([pixels, alpha], axis=2),
    }[shape[2]]


@pytest.mark.parametrize("shape", [(21, 34), (21, 34, 1), (21, 34, 2), (21, 34, 3), (21, 34, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.float16])
def test_arrays_come_back_with_their_shape_and_dtype(mixing, shape, dtype):
    pixels = image_of(shape)
    image = pixels if dtype == np.uint8 else (pixels / 255).astype(dtype)
    before = image.copy()
    out = ipmix.IPMix(mixing)(image, rng=rng(3))
    assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(image, before)
    if dtype != np.uint8:  # the uint8 result scaled by 1/255 in the input's dtype
        as_bytes = ipmix.IPMix(mixing)(pixels, rng=rng(3))
        assert np.array_equal(out, as_bytes.astype(dtype) * dtype(1 / 255))
    if len(shape) == 3 and shape[2] in (2, 4):
        assert np.all(out[..., -1] == (255 if dtype == np.uint8 else 1))


def test_an_rgb_array_gives_the_bytes_of_the_shared_code_path(mixing):
    pixels = photo_like(40, 90, 4)
    out = ipmix.IPMix(mixing, severity=2)(pixels, rng=rng(5))
    expected = augment_copy(pixels, mixing, rng(5), ConfigResolver("auto", "ipmix", severity=2)(40, 90))
    assert np.array_equal(out, expected.pixels)


def test_a_grey_image_through_augmix_is_exactly_the_grey_of_its_rgb_augmentation():
    grey = photo_like(30, 30)[..., 1]
    out = ipmix.AugMix()(grey, rng=rng(2))  # AugMix keeps equal channels equal, and luma of (v, v, v) is v
    assert np.array_equal(np.repeat(out[..., None], 3, axis=2), ipmix.AugMix()(np.dstack([grey] * 3), rng=rng(2)))


def test_float_and_uint8_inputs_get_the_same_augmentation(mixing):
    pixels = photo_like(24, 24)
    floats = pixels.astype(np.float32) * np.float32(1 / 255)  # as ToDtype(float32, scale=True) makes them
    out = ipmix.IPMix(mixing)(floats, rng=rng(1))
    assert np.array_equal(np.rint(out * 255).astype(np.uint8), ipmix.IPMix(mixing)(pixels, rng=rng(1)))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((8, 8, 3), np.int64), "must be uint8, or floating point in \\[0, 1\\]; got int64"),
        (np.full((8, 8, 3), 2.5, np.float32), "values in \\[0, 1\\], got 2.5 to 2.5 \\(augment before Normalize"),
        (np.full((8, 8, 3), -0.5), "got -0.5 to -0.5"),
        (np.full((8, 8, 3), np.nan, np.float32), "values in \\[0, 1\\]"),
        (np.zeros((3, 8, 8), np.uint8), "got shape \\(3, 8, 8\\) \\(a C×H×W array\\? use array.transpose"),
        (np.zeros((8, 8, 5), np.uint8), "with C in 1, 2, 3, 4, got shape \\(8, 8, 5\\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), "got shape \\(2, 8, 8, 3\\)"),
    ],
)
def test_images_it_cannot_take_are_refused_with_the_fix(image, message):
    with pytest.raises(ValueError, match=message):
        ipmix.AugMix()(image)


def test_other_types_are_refused():
    with pytest.raises(TypeError, match="expected a PIL image, a numpy H×W×C array or a torch C×H×W tensor, got list"):
        ipmix.AugMix()([[0, 0], [0, 0]])


# p --------------------------------------------------------------------------------------------------------------


def test_p0_returns_the_input_itself_and_draws_nothing(mixing):
    image, pil = photo_like(16, 16), Image.fromarray(photo_like(16, 16))
    for transform in (ipmix.IPMix(mixing, p=0), ipmix.AugMix(p=0.0), ipmix.PixMix(mixing, p=0)):
        assert transform(image) is image and transform(pil) is pil
        generator = rng()
        assert transform(image, rng=generator) is image
        assert generator.random() == rng().random()  # an explicit generator is not touched
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):  # the input is checked at every p
        ipmix.AugMix(p=0)(np.full((4, 4, 3), 3.0))


def test_p1_always_augments_with_the_whole_generator(mixing):
    image = photo_like(20, 20)
    transform = ipmix.IPMix(mixing, p=1)
    for seed in range(20):  # no coin is drawn: the generator goes to the augmentation as in the CLI
        expected = augment_copy(image, mixing, rng(seed), ConfigResolver()(20, 20)).pixels
        out = transform(image, rng=rng(seed))
        assert out is not image and np.array_equal(out, expected)


def test_p_between_is_a_coin_drawn_first_from_the_call_generator():
    image = photo_like(6, 6)
    transform = ipmix.AugMix(p=0.3, chains=1, depth=1)
    n, augmented = 2000, 0
    for seed in range(n):
        out = transform(image, rng=rng(seed))
        coin = rng(seed)
        if coin.random() < 0.3:
            augmented += 1
            assert out is not image and np.array_equal(out, ipmix.AugMix(chains=1, depth=1)(image, rng=coin))
        else:
            assert out is image
    assert_share(augmented, n, 0.3, "augmented calls at p=0.3")


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True, float("nan"), None])
def test_p_must_be_a_probability(p):
    with pytest.raises(ipmix.ConfigError, match="p \\(the probability of augmenting\\) must be a number in"):
        ipmix.AugMix(p=p)


# Randomness without torch -----------------------------------------------------------------------------------


def test_without_torch_each_call_draws_fresh_os_entropy(mixing, no_torch, monkeypatch):
    image = photo_like(20, 20)
    transform = ipmix.IPMix(mixing)
    assert len({transform(image).tobytes() for _ in range(4)}) == 4
    drawn = []
    original = np.random.SeedSequence

    def recording(entropy=None, **kwargs):
        drawn.append(entropy)
        return original(entropy, **kwargs)

    monkeypatch.setattr(np.random, "SeedSequence", recording)
    transform(image)
    assert drawn == [None]  # SeedSequence() takes its entropy from the OS: numpy's global state is not read


def test_seed_gives_the_transform_its_own_stream(mixing, no_torch):
    image = photo_like(20, 20)
    one, two = ipmix.IPMix(mixing, seed=7), ipmix.IPMix(mixing, seed=7)
    first = [one(image) for _ in range(3)]
    assert all(np.array_equal(a, two(image)) for a in first)
    assert len({out.tobytes() for out in first}) == 3
    assert not np.array_equal(ipmix.IPMix(mixing, seed=8)(image), first[0])
    # call n uses SeedSequence(seed, spawn_key=(n,)); a copy continues the count it was made with
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(1,))))
    assert np.array_equal(first[1], ipmix.IPMix(mixing)(image, rng=generator))
    three = ipmix.IPMix(mixing, seed=7)
    three(image)
    assert np.array_equal(pickle.loads(pickle.dumps(three))(image), first[1])


def test_an_explicit_generator_wins_over_the_seed(mixing):
    image = photo_like(20, 20)
    assert np.array_equal(ipmix.IPMix(mixing, seed=3)(image, rng=rng(4)), ipmix.IPMix(mixing)(image, rng=rng(4)))
    with pytest.raises(TypeError, match="Generator"):
        ipmix.IPMix(mixing)(image, rng=4)


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(ipmix.ConfigError, match="seed must be a non-negative integer or None"):
        ipmix.AugMix(seed=seed)


def test_transforms_pickle_with_their_settings_and_stream():
    transform = ipmix.AugMix(p=0.5, seed=3, mixture_width=2)
    transform(photo_like(8, 8))
    clone = pickle.loads(pickle.dumps(transform))
    assert repr(clone) == repr(transform) == "AugMix(preset='auto', p=0.5, seed=3, chains=2)"
    assert [clone(photo_like(8, 8)).tobytes() for _ in range(3)] == [
        transform(photo_like(8, 8)).tobytes() for _ in range(3)
    ]


# Calling conventions and settings ------------------------------------------------------------------------------


def test_albumentations_calling_convention(mixing):
    image, mask = photo_like(20, 20), np.zeros((20, 20), np.uint8)
    transform = ipmix.IPMix(mixing)
    out = transform(image=image, mask=mask, label=3, rng=rng(1))
    assert set(out) == {"image", "mask", "label"} and out["mask"] is mask and out["label"] == 3
    assert np.array_equal(out["image"], transform(image, rng=rng(1)))
    with pytest.raises(TypeError, match="needs an image"):
        transform(mask=mask)
    with pytest.raises(TypeError, match="Generator"):
        transform(image, mask)  # a second positional argument is the generator, as in ipmix 0.3
    assert np.array_equal(transform(image, rng(1)), transform(image, rng=rng(1)))
    with pytest.raises(TypeError, match="takes one image"):
        transform(image, mask, rng(1))
    with pytest.raises(TypeError, match="takes one image"):
        transform(image, label=3)


def test_augmix_takes_torchvisions_names():
    image = photo_like(24, 24)
    named = ipmix.AugMix(mixture_width=2, chain_depth=2, severity=4, alpha=0.5)
    ours = ipmix.AugMix(chains=2, depth=2, severity=4, alpha=0.5)
    assert named.configs.overrides == ours.configs.overrides
    assert np.array_equal(named(image, rng=rng(1)), ours(image, rng=rng(1)))
    assert ipmix.AugMix(chain_depth=-1).configs.overrides == {"depth": None}  # torchvision's -1: 1–3 per chain
    assert ipmix.AugMix().configs(24, 24).depth is None  # which is the default


@pytest.mark.parametrize("method", ["IPMix", "AugMix", "PixMix"])
def test_all_ops_selects_the_full_operation_list(method, mixing):
    make = getattr(ipmix, method)
    if method != "AugMix":
        make = lambda **settings: getattr(ipmix, method)(mixing, **settings)  # noqa: E731
    config = getattr(ipmix, f"{method}Config")
    assert make(all_ops=True).configs(24, 24).ops == config.ALL_OPS
    assert len(config.ALL_OPS) == 15 if method == "IPMix" else config.ALL_OPS == AUGMIX_ALL_OPS
    assert make(all_ops=False).configs(24, 24).ops == make().configs(24, 24).ops == config().ops


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"chains": 2, "mixture_width": 2}, "mixture_width and chains are one setting"),
        ({"depth": 2, "chain_depth": 3}, "chain_depth and depth are one setting"),
        ({"chain_depth": 0}, "chain_depth must be -1 \\(1–3 operations, drawn per chain\\) or ≥ 1, got 0"),
        ({"all_ops": True, "ops": ["rotate"]}, "ops and all_ops=True contradict each other"),
        ({"all_ops": "yes"}, "all_ops must be True or False"),
        (
            {"interpolation": 2},
            "interpolation: not a setting of augmix; it has chains, depth, severity, alpha, ops, "
            "mixture_width, chain_depth, all_ops",
        ),
        ({"mixture_width": 0}, "chains must be between 1 and 64, got 0"),
    ],
)
def test_settings_that_conflict_or_are_unknown_are_refused(settings, message):
    with pytest.raises(ipmix.ConfigError, match=message):
        ipmix.AugMix(**settings)


def test_torchvisions_names_are_augmix_only(mixing):
    with pytest.raises(ipmix.ConfigError, match="mixture_width: not a setting of ipmix"):
        ipmix.IPMix(mixing, mixture_width=2)
