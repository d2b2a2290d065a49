"""The compiled kernels give the plain path's bytes exactly, and the switch between the two paths.

Each test computes the same thing twice in one process, with ``compiled.using("plain")`` and
``compiled.using("compiled")``, and compares bytes: operations over image sizes from 1×1 to 300×200 (odd shapes
and strips too), angles, shear factors, histograms, cut-offs, boxes, mixing coefficients and overflow modes;
then whole plans of every method.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from conftest import on_both_paths, photo_like  # noqa: E402
from ipmix_cli.engine import (
    compiled,  # noqa: E402
    methods,  # noqa: E402
)
from ipmix_cli.engine.blend import blend  # noqa: E402
from ipmix_cli.engine.config import AugMixConfig, IPMixConfig, PixMixConfig  # noqa: E402
from ipmix_cli.engine.draws import Draws  # noqa: E402
from ipmix_cli.engine.mixing import mix_into, sample_box, sample_mix  # noqa: E402
from ipmix_cli.engine.ops import apply_image_op, apply_image_op_region  # noqa: E402

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def kernels_loaded():
    compiled.use("compiled")  # compiles into the session's cache folder once
    yield
    compiled.use("auto")


both = on_both_paths


def assert_same(function):
    plain, fast = both(function)
    assert fast.dtype == plain.dtype == np.uint8
    assert fast.shape == plain.shape
    assert np.array_equal(fast, plain)


def image_of(height: int, width: int, seed: int, levels: int = 256) -> np.ndarray:
    """A photo-like image, or (``levels`` < 256) one of few values, for degenerate histograms."""
    if levels >= 256:
        return photo_like(height, width, seed)
    rng = np.random.default_rng(seed)
    values = rng.choice(256, size=levels, replace=False).astype(np.uint8)
    return values[rng.integers(0, levels, (height, width, 3))]


sizes = st.tuples(st.integers(1, 300), st.integers(1, 200)).filter(lambda s: s[0] * s[1] <= 20_000) | st.sampled_from(
    [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (32, 32), (40, 40), (41, 39), (64, 64), (65, 64), (2, 300), (300, 2)]
)


@pytest.mark.slow
@EXAMPLES
@given(size=sizes, degrees=st.integers(-45, 45) | st.floats(-30, 30), seed=st.integers(0, 2**16))
def test_rotation_is_the_plain_rotation(size, degrees, seed):
    image = image_of(*size, seed)
    before = image.copy()
    assert_same(lambda: apply_image_op(image, {"op": "rotate", "degrees": degrees}))
    assert np.array_equal(image, before)


@EXAMPLES
@given(
    size=st.tuples(st.integers(1, 70), st.integers(1, 70)),
    out_size=st.tuples(st.integers(1, 70), st.integers(1, 70)),
    linear=st.tuples(*[st.floats(-2, 2, allow_subnormal=False)] * 4),
    shift=st.tuples(st.floats(-90, 90), st.floats(-90, 90)),
    seed=st.integers(0, 2**16),
)
def test_the_affine_kernel_is_pillows_transform_for_any_map(size, out_size, linear, shift, seed):
    """Any map, any output size (a patch's box reads part of the image, or nothing of it): the packed window,
    its padding at the edges and the clamped positions outside the image read what Pillow reads."""
    from PIL import Image

    image = image_of(*size, seed)
    a, b, d, e = linear
    coefficients = (a, b, shift[0], d, e, shift[1])
    width, height = out_size
    expected = np.asarray(
        Image.fromarray(image).transform(
            (width, height), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
        )
    )
    out = np.empty((height, width, 3), np.uint8)
    compiled.active().affine(image, out, *coefficients)
    assert np.array_equal(out, expected)


@pytest.mark.slow
@EXAMPLES
@given(size=sizes, factor=st.floats(-0.6, 0.6) | st.sampled_from([0.0, 0.3, -0.3, 1e-9]), seed=st.integers(0, 2**16))
def test_shears_are_the_plain_shears(size, factor, seed):
    image = image_of(*size, seed)
    for op in ("shear_x", "shear_y"):
        assert_same(lambda: apply_image_op(image, {"op": op, "factor": factor}))


@EXAMPLES
@given(size=sizes, seed=st.integers(0, 2**16))
def test_the_mirror_is_the_plain_mirror(size, seed):
    image = image_of(*size, seed)
    before = image.copy()
    assert_same(lambda: apply_image_op(image, {"op": "mirror"}))
    assert np.array_equal(image, before)


@EXAMPLES
@given(
    size=sizes,
    levels=st.sampled_from([1, 2, 3, 17, 256]),
    cutoff=st.floats(0, 49) | st.sampled_from([0, 9.9]),
    seed=st.integers(0, 2**16),
)
def test_tone_operations_are_the_plain_ones(size, levels, cutoff, seed):
    image = image_of(*size, seed, levels)
    assert_same(lambda: apply_image_op(image, {"op": "equalize"}))
    assert_same(lambda: apply_image_op(image, {"op": "autocontrast", "cutoff": cutoff}))


@EXAMPLES
@given(
    size=st.tuples(st.integers(2, 120), st.integers(2, 120)),
    op=st.sampled_from([{"op": "rotate", "degrees": d} for d in (-17, -2, 1, 29)] + [{"op": "equalize"}])
    | st.builds(
        lambda name, f: {"op": name, "factor": f}, st.sampled_from(["shear_x", "shear_y"]), st.floats(-0.3, 0.3)
    ),
    seed=st.integers(0, 2**16),
)
def test_patch_sources_are_the_plain_ones(size, op, seed):
    image = image_of(*size, seed)
    draws = Draws(np.random.default_rng(seed))
    box = sample_box(draws, size[0], size[1], draws.integer(2, min(size)))
    assert_same(lambda: apply_image_op_region(image, op, box))


@EXAMPLES
@given(
    size=st.tuples(st.integers(2, 150), st.integers(2, 150)),
    beta=st.sampled_from([0.5, 1.0, 3.0, 4.0]),
    overflow=st.sampled_from(["wrap", "clip"]),
    seed=st.integers(0, 2**16),
)
def test_patch_mixes_are_the_plain_ones(size, beta, overflow, seed):
    chain, source = image_of(*size, seed), image_of(*size, seed + 1)
    draws = Draws(np.random.default_rng(seed))
    source[0, 0] = 0  # the multiply's b = 0 term, where the float32 product's low bits count
    for _ in range(4):
        box = sample_box(draws, size[0], size[1], draws.integer(2, min(size)))
        params = sample_mix(draws, beta)
        left, top, width, height = box

        def mixed():
            target = chain.copy()
            mix_into(
                target[top : top + height, left : left + width],
                source[top : top + height, left : left + width],
                params,
                overflow,
            )
            return target

        assert_same(mixed)


@pytest.mark.parametrize("mix", ["add", "multiply"])
def test_a_hand_made_plan_outside_the_sampled_ranges_takes_the_plain_path(mix):
    chain, source = image_of(20, 20, 1), image_of(20, 20, 2)
    params = {"mix": mix, "alpha": 7.5, "gamma": -3.0}

    def mixed():
        target = chain.copy()
        with np.errstate(all="ignore"):
            mix_into(target, source, params, "clip")
        return target

    assert_same(mixed)


@EXAMPLES
@given(size=sizes, chains=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_the_blend_is_the_plain_blend(size, chains, seed):
    image = image_of(*size, seed)
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(chains + 1))
    terms = [(float(w), image_of(*size, seed + 1 + i)) for i, w in enumerate(weights[1:])]
    assert_same(lambda: blend(image, float(weights[0]), terms))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([(2, 2), (3, 9), (32, 32), (40, 41), (64, 65), (70, 70), (90, 20), (128, 96)]),
    method=st.sampled_from(["ipmix", "augmix", "pixmix"]),
    preset=st.sampled_from(["cifar", "imagenet"]),
    overflow=st.sampled_from(["wrap", "clip"]),
    all_ops=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_method_gives_the_plain_bytes(size, method, preset, overflow, all_ops, seed):
    config_class = {"ipmix": IPMixConfig, "augmix": AugMixConfig, "pixmix": PixMixConfig}[method]
    overrides = {"overflow": overflow} if method == "ipmix" else {}
    if all_ops:
        overrides["ops"] = config_class.ALL_OPS
    config = config_class.for_image(preset, *size, **overrides)
    image, mixing = image_of(*size, seed % 1000), image_of(*size, seed % 1000 + 1)
    for copy in range(4):
        plan = methods.sample_plan(np.random.default_rng([seed, copy]), *size, config)
        assert_same(lambda: methods.apply_plan(image, mixing, plan))


def test_views_and_read_only_inputs_are_read_correctly():
    image = image_of(50, 60, 3)
    view = image[:, ::-1]
    frozen = image.copy()
    frozen.setflags(write=False)
    for source in (view, frozen):
        assert_same(lambda: apply_image_op(source, {"op": "rotate", "degrees": 5}))
        assert_same(lambda: apply_image_op(source, {"op": "shear_y", "factor": 0.2}))
        assert_same(lambda: apply_image_op(source, {"op": "equalize"}))
        assert_same(lambda: blend(source, 0.5, [(0.5, image)]))


# --- the switch ---------------------------------------------------------------------------------------------


def test_modes_switch_the_path_and_using_restores_the_mode():
    with compiled.using("plain"):
        assert compiled.active() is None
        with compiled.using("compiled"):
            assert compiled.active() is not None
        assert compiled.active() is None and compiled.mode() == "plain"
    with pytest.raises(ValueError, match="unknown kernel mode"):
        compiled.use("fastest")


def test_auto_mode_switches_once_plain_copies_have_cost_what_loading_does(monkeypatch):
    monkeypatch.setattr(compiled, "WARM_SECONDS", 0.0)
    monkeypatch.setattr(compiled, "COLD_SECONDS", 0.0)
    image = image_of(16, 16, 1)
    config = AugMixConfig.preset("cifar")
    with compiled.using("plain"):
        compiled.use("auto")
        compiled._STATE.kernels = None  # as a fresh process in auto mode: plain until the work has paid
        plan = methods.sample_plan(np.random.default_rng(0), 16, 16, config)
        methods.apply_plan(image, None, plan)
        assert compiled.active() is not None


def test_the_cache_is_under_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compiled.cache_folder() == tmp_path / "ipmix" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert compiled.cache_folder() == tmp_path / "mine"


def test_without_numba_or_a_writable_cache_the_process_stays_plain(monkeypatch, tmp_path):
    fresh = compiled._State()
    monkeypatch.setattr(compiled, "_STATE", fresh)
    monkeypatch.setattr(compiled, "_numba_installed", lambda: False)
    with pytest.raises(compiled.KernelsUnavailable, match="numba cannot be imported"):
        compiled.use("compiled")
    assert not compiled.available()

    fresh = compiled._State()
    monkeypatch.setattr(compiled, "_STATE", fresh)
    monkeypatch.setattr(compiled, "_numba_installed", lambda: True)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker / "numba"))
    with pytest.raises(compiled.KernelsUnavailable, match="cannot be written"):
        compiled.use("compiled")
    compiled.use("auto")
    compiled._consider_switching()
    assert compiled.active() is None


def test_the_compiled_mode_from_the_environment_loads_the_kernels_at_the_first_copy(monkeypatch):
    fresh = compiled._State()
    fresh.mode = "compiled"  # as IPMIX_KERNELS=compiled gives a new process
    monkeypatch.setattr(compiled, "_STATE", fresh)
    fresh.loaded = None
    image = image_of(16, 16, 1)
    plan = methods.sample_plan(np.random.default_rng(0), 16, 16, AugMixConfig.preset("cifar"))
    methods.apply_plan(image, None, plan)
    assert compiled.active() is not None


@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0, 3), (0, 0, 3)])
@pytest.mark.parametrize(
    "op", [{"op": "rotate", "degrees": 10}, {"op": "shear_x", "factor": 0.3}, {"op": "shear_y", "factor": -0.3}]
)
def test_an_empty_image_transforms_to_an_empty_image_on_both_paths(shape, op):
    """The kernels pack and index the image unchecked: an empty one must not reach past it (it did, for the
    padded affine and the shears, found by a hostile pass)."""
    assert_same(lambda: apply_image_op(np.zeros(shape, np.uint8), op))


@pytest.mark.parametrize("mix", ["add", "multiply", "random_pixels"])
def test_patches_of_different_shapes_are_refused_on_both_paths(mix):
    """The kernels index the source as the target, unchecked: a source of another shape is a ValueError on both
    paths (numpy's broadcasting error on the plain one), never a read past the source."""
    params = {"mix": mix, "alpha": 1.0, "gamma": 1.0, "q": 0.5, "mask_seed": 1}
    for path in ("plain", "compiled"):
        target, source = photo_like(8, 8, 1), photo_like(2, 8, 2)
        with compiled.using(path), pytest.raises(ValueError):
            mix_into(target, source, params, "clip")


@pytest.mark.parametrize("op", ["shear_x", "shear_y"])
@pytest.mark.parametrize("factor", [1e20, -1e20, 1e300, -1.7e308])
def test_a_shear_factor_beyond_any_line_is_black_on_both_paths(op, factor):
    """A hand-made plan may give any finite factor: the plain row-run shear converted shifts beyond int64's range
    to nonsense and refused the plan (a hostile pass), where the kernel made the black lines it should."""
    image = image_of(70, 80, 3)
    assert_same(lambda: apply_image_op(image, {"op": op, "factor": factor}))


@pytest.mark.parametrize("box", [(-3, -3, 4, 4), (10, 0, 4, 4), (0, 0, 0, 2), (0, 8, 3, 3)])
def test_a_region_outside_the_image_is_refused_on_both_paths(box):
    image = image_of(10, 12, 4)
    for path in ("plain", "compiled"):
        with compiled.using(path), pytest.raises(ValueError, match="box"):
            apply_image_op_region(image, {"op": "equalize"}, box)


@pytest.mark.parametrize(
    "coefficients",
    [
        (np.nan, 0.0, 0.0, 0.0, 1.0, 0.0),
        (1.0, 0.0, np.inf, 0.0, 1.0, 0.0),
        (1e308, -1e308, 0.0, 0.0, 1.0, 0.0),  # corners overflow to NaN, some positions stay finite
        (1.0, 0.0, 0.0, 0.0, 1.0, -np.inf),
    ],
)
def test_a_map_that_is_not_finite_reads_only_the_image(coefficients):
    """With NaN corners the packed window shrank to a column and the gather read far past it (a segfault on a
    1×10⁷ strip, found by a hostile pass): a map whose corners are not finite packs the whole image."""
    from PIL import Image

    if np.isnan(coefficients[0]):  # (the gather read about the strip's width past the window)
        strip = np.full((1, 10**7, 3), 9, np.uint8)
        out = np.empty_like(strip)
        compiled.active().affine(strip, out, *coefficients)
        assert not out.any()
    small = image_of(9, 13, 8)
    expected = Image.fromarray(small).transform(
        (13, 9), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
    )
    out = np.empty_like(small)
    compiled.active().affine(small, out, *coefficients)
    assert np.array_equal(out, np.asarray(expected))


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize(
    "op",
    [{"op": "rotate", "degrees": 10}, {"op": "shear_x", "factor": 0.3}, {"op": "shear_y", "factor": 0.3}]
    + [{"op": "equalize"}, {"op": "autocontrast", "cutoff": 1}, {"op": "mirror"}],
)
def test_an_image_without_three_channels_is_refused_on_both_paths(channels, op):
    """The kernels read three bytes a pixel: an H×W×1 image made them read past it, an H×W×4 one gave other
    bytes than the plain path, whose own answer left a channel uninitialised (a hostile pass; not reachable
    from the public API, which converts to RGB)."""
    image = np.dstack([image_of(70, 80, 9)] * 2)[:, :, :channels].copy()
    for path in ("plain", "compiled"):
        with compiled.using(path):
            with pytest.raises(ValueError, match="H×W×3 uint8"):
                apply_image_op(image, op)
            with pytest.raises(ValueError, match="H×W×3 uint8"):
                apply_image_op_region(image, op, (3, 4, 50, 40))


def test_kernels_called_with_outputs_of_other_shapes_refuse():
    kernels = compiled.active()
    image = image_of(70, 80, 10)
    with pytest.raises(ValueError):
        kernels.shear_lines(image, np.empty((70, 60, 3), np.uint8), 0.3, 1)
    with pytest.raises(ValueError):
        kernels.mirror(image, np.empty((10, 80, 3), np.uint8))
    with pytest.raises(ValueError):
        kernels.tone(image, np.empty((10, 10, 3), np.uint8), 65, 0, kernels.EQUALIZE, 0)
    with pytest.raises(ValueError):
        kernels.blend(
            image.reshape(-1),
            0.5,
            image.reshape(-1)[:10],
            0.5,
            image.reshape(-1),
            0,
            image.reshape(-1),
            0,
            1,
            np.empty(image.size, np.uint8),
        )


@pytest.mark.parametrize(
    "box, error",
    [
        ((0, np.uint64(2**64 - 20), 12, np.uint64(20)), ValueError),
        ((0, 3, 12, np.uint32(20)), ValueError),
        ((0.0, 0, 4, 4), TypeError),
    ],
)
def test_region_boxes_are_whole_numbers_on_both_paths(box, error):
    image = image_of(10, 12, 11)
    for path in ("plain", "compiled"):
        for op in ({"op": "equalize"}, {"op": "rotate", "degrees": 5}):
            with compiled.using(path), pytest.raises(error):
                apply_image_op_region(image, op, box)


@pytest.mark.parametrize("op", ["shear_x", "shear_y"])
def test_a_nan_shear_is_black_on_both_paths(op):
    assert_same(lambda: apply_image_op(image_of(70, 80, 12), {"op": op, "factor": float("nan")}))
