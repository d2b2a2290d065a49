"""The compiled masks: the kernels make ``seeding.mask_uniforms``' float32 values (numpy's PCG64) themselves, in
their order, and select with them as ``mixing._random_pixels`` and ``_random_elems`` do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from conftest import photo_like  # noqa: E402
from ipmix_cli.engine import compiled  # noqa: E402
from ipmix_cli.engine.mixing import apply_mix, mix_into, mix_into_box  # noqa: E402
from ipmix_cli.seeding import MASK_CONSTANTS, mask_state, mask_uniforms  # noqa: E402

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sub_seeds = st.integers(0, 2**53 - 1) | st.sampled_from([0, 1, 2**53 - 1])


@pytest.fixture(scope="module")
def kernels():
    with compiled.using("compiled"):
        yield compiled.active()


@EXAMPLES
@given(count=st.integers(1, 5000) | st.sampled_from([1, 7, 8, 9, 511, 512, 513, 1024, 150_528]), seed=sub_seeds)
def test_the_kernels_make_numpys_uniforms(kernels, count, seed):
    out = np.empty(count, np.float32)
    kernels.mask_uniforms(*mask_state(seed), MASK_CONSTANTS, out)
    assert np.array_equal(out, mask_uniforms(seed, (count,)))


@EXAMPLES
@given(
    size=st.tuples(st.integers(1, 300), st.integers(1, 200)) | st.sampled_from([(1, 1), (2, 2), (224, 224)]),
    mix=st.sampled_from(["random_pixels", "random_elems"]),
    q=st.floats(0, 1) | st.sampled_from([0.0, 1.0, 0.5]),
    seed=sub_seeds,
    view=st.booleans(),
)
def test_masked_selection_is_the_plain_selection(size, mix, q, seed, view):
    chain, source = photo_like(*size, seed % 1000), photo_like(*size, seed % 1000 + 1)
    if view:  # patches are views of larger images; sources may be views with other strides
        chain = np.pad(chain, ((1, 2), (3, 1), (0, 0)))[1:-2, 3:-1]
        source = source[::-1]
    params = {"mix": mix, "q": q, "mask_seed": seed}
    expected = apply_mix(chain, source, params, "wrap")
    with compiled.using("compiled"):
        target = chain.copy()
        mix_into(target, source, params, "wrap")
    assert np.array_equal(target, expected)


@EXAMPLES
@given(
    size=st.tuples(st.integers(1, 300), st.integers(1, 200)) | st.sampled_from([(1, 1), (224, 224)]),
    corner=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    extent=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    mix=st.sampled_from(["random_pixels", "random_elems"]),
    q=st.floats(0, 1),
    seed=sub_seeds,
    from_mixing=st.booleans(),
    strided=st.booleans(),
)
def test_a_masked_box_mixed_in_place_is_the_plain_mix_of_its_views(
    size, corner, extent, mix, q, seed, from_mixing, strided
):
    """IPMix's patch step (``mix_into_box``): the kernel reads and writes the boxes of whole images, row by row;
    the source is a mixing picture (the same box) or a box-sized region (at the origin); a non-contiguous
    image takes the path through views."""
    height, width = size
    left, top = int(corner[0] * (width - 1)), int(corner[1] * (height - 1))
    box_width = 1 + int(extent[0] * (width - left - 1))
    box_height = 1 + int(extent[1] * (height - top - 1))
    box = (left, top, box_width, box_height)
    image = photo_like(height, width, seed % 997)
    if strided:
        image = np.pad(image, ((0, 0), (0, 2), (0, 0)))[:, :width]
    if from_mixing:
        source, at = photo_like(height, width, seed % 997 + 1), (left, top)
    else:
        source, at = photo_like(box_height, box_width, seed % 997 + 2), (0, 0)
    params = {"mix": mix, "q": q, "mask_seed": seed}
    rows, cols = slice(top, top + box_height), slice(left, left + box_width)
    expected = image.copy()
    expected[rows, cols] = apply_mix(
        image[rows, cols], source[at[1] : at[1] + box_height, at[0] : at[0] + box_width], params, "wrap"
    )
    with compiled.using("compiled"):
        mix_into_box(image, box, source, at, params, "wrap")
    assert np.array_equal(image, expected)


@pytest.mark.parametrize(
    "box, at",
    [
        ((0, 0, 9, 8), (0, 0)),
        ((-1, 0, 4, 4), (0, 0)),
        ((6, 5, 3, 3), (0, 0)),
        ((0, 0, 0, 3), (0, 0)),
        ((2, 2, 4, 4), (5, 0)),
    ],
)
def test_a_box_that_does_not_fit_is_refused_before_the_unchecked_kernel(box, at):
    """The kernel reads and writes the boxes unchecked: a box reaching outside either image (a hand-made call)
    is a ValueError, not a write outside the array."""
    image, source = photo_like(8, 8, 1), photo_like(8, 8, 2)
    before = image.copy()
    with compiled.using("compiled"), pytest.raises(ValueError, match="box"):
        mix_into_box(image, box, source, at, {"mix": "random_elems", "q": 0.5, "mask_seed": 3}, "wrap")
    assert np.array_equal(image, before)


def test_an_empty_view_mixes_to_nothing_on_both_paths():
    for path in ("plain", "compiled"):
        with compiled.using(path):
            target = photo_like(8, 8, 1)[3:3]
            mix_into(target, target.copy(), {"mix": "random_pixels", "q": 0.5, "mask_seed": 3}, "wrap")


@pytest.mark.parametrize("path", ["plain", "compiled"])
@pytest.mark.parametrize(
    "box, at",
    [
        (tuple(np.array([0, 0, 20, 20], np.uint64)), (0, 0)),  # numpy's unsigned numbers wrap in a subtraction
        ((0, 0, np.uint64(10**7), np.uint64(4)), (0, 0)),
        ((np.uint64(2**64 - 1), 0, 2, 2), (0, 0)),  # beyond int64: numba's OverflowError on the compiled path
        ((4, 4, 6, 6), (0, 0)),  # over the edge: the plain path used to clip it, the compiled one to refuse it
        ((0, 0, 0, 3), (0, 0)),
        ((-1, 0, 3, 3), (0, 0)),
    ],
)
def test_a_box_that_does_not_fit_is_refused_on_both_paths(path, box, at):
    image, source = photo_like(8, 8, 1), photo_like(8, 8, 2)
    before = image.copy()
    with compiled.using(path), pytest.raises(ValueError, match="box"):
        mix_into_box(image, box, source, at, {"mix": "random_elems", "q": 0.0, "mask_seed": 3}, "wrap")
    assert np.array_equal(image, before)


@pytest.mark.parametrize("mix", ["random_pixels", "random_elems", "add", "multiply"])
def test_a_source_that_overlaps_the_target_mixes_as_on_the_plain_path(mix):
    """The plain path reads the whole source before it writes; the kernels read it as they write the target, so
    an overlapping source is copied first (found by a hostile pass: 40 to 90 bytes differed)."""
    params = {"mix": mix, "q": 0.5, "mask_seed": 11, "alpha": 0.8, "gamma": 0.4}
    results = []
    for path in ("plain", "compiled"):
        with compiled.using(path):
            image = photo_like(12, 8, 5)
            mix_into_box(image, (0, 1, 8, 8), image, (0, 0), params, "wrap")
            other = photo_like(12, 8, 5)
            mix_into(other[1:9], other[0:8], params, "wrap")
            results.append((image, other))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("box, at", [((1.5, 0, 2, 2), (0, 0)), ((0, 0, 2, 2), (np.float64(1.0), 0))])
def test_a_box_of_fractions_is_a_type_error_on_both_paths(box, at):
    """numba would truncate the fractions into the kernel's whole numbers; numpy's slicing refuses them."""
    for path in ("plain", "compiled"):
        image, source = photo_like(8, 8, 1), photo_like(8, 8, 2)
        with compiled.using(path), pytest.raises(TypeError):
            mix_into_box(image, box, source, at, {"mix": "random_pixels", "q": 0.5, "mask_seed": 3}, "wrap")


@pytest.mark.parametrize("mix", ["random_pixels", "add"])
def test_arrays_the_kernels_do_not_take_are_mixed_as_on_the_plain_path(mix):
    """Other dtypes are mixed by the plain path on both paths; a read-only target is the same ValueError."""
    params = {"mix": mix, "q": 0.5, "mask_seed": 3, "alpha": 0.7, "gamma": 0.2}
    results = []
    for path in ("plain", "compiled"):
        with compiled.using(path):
            image, source = photo_like(8, 8, 1).astype(np.int16), photo_like(8, 8, 2).astype(np.int16)
            mix_into_box(image, (1, 1, 5, 5), source, (0, 0), params, "wrap")
            results.append(image)
            frozen = photo_like(8, 8, 1)
            frozen.flags.writeable = False
            with pytest.raises(ValueError):
                mix_into(frozen, photo_like(8, 8, 2), params, "wrap")
    assert np.array_equal(*results)
