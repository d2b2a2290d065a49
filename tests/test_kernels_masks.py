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
from ipmix_cli.engine.mixing import apply_mix, mix_into  # noqa: E402
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
