"""Per-output generators (SPEC §2) and the absence of global random state."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import numpy as np

import ipmix_cli
from conftest import assert_share
from ipmix_cli.seeding import generator_for, generator_for_index, mask_uniforms, path_digest


def test_generator_is_built_exactly_as_the_spec_says():
    path, seed, copy = "cats/tabby 01.jpg", 1234, 3
    digest = int.from_bytes(hashlib.blake2b(path.encode("utf-8"), digest_size=16).digest(), "big")
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(digest, copy))))
    assert path_digest(path) == digest
    assert digest.bit_length() <= 128
    assert generator_for(seed, path, copy).random(8).tolist() == expected.random(8).tolist()


def test_generators_differ_by_path_copy_and_seed():
    draws = {
        tuple(generator_for(seed, path, copy).integers(0, 2**62, 4).tolist())
        for seed in (0, 1)
        for path in ("a.png", "b.png", "dir/a.png", "é.png")
        for copy in (0, 1, 2)
    }
    assert len(draws) == 2 * 4 * 3


def test_unicode_paths_are_hashed_as_utf8():
    assert path_digest("é") == int.from_bytes(hashlib.blake2b("é".encode(), digest_size=16).digest(), "big")


def test_index_generators_are_stable():
    first = generator_for_index(7, 12).random(3).tolist()
    assert first == generator_for_index(7, 12).random(3).tolist()
    assert first != generator_for_index(7, 13).random(3).tolist()


def test_the_package_uses_no_global_random_state():
    pattern = re.compile(
        r"^\s*import random\b|from random import|np\.random\.(seed|rand|randn|randint|random|choice|uniform|"
        r"beta|dirichlet|normal|shuffle|permutation|standard_exponential|exponential)\(|torch\.manual_seed"
    )
    package = Path(ipmix_cli.__file__).parent
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_mask_uniforms_depend_on_the_sub_seed_alone():
    first = mask_uniforms(2**53 - 1, (7, 5))
    mask_uniforms(3, (100,))  # another mask in between must not shift the stream
    again = mask_uniforms(2**53 - 1, (7, 5))
    in_thread = {}
    worker = threading.Thread(target=lambda: in_thread.update(u=mask_uniforms(2**53 - 1, (7, 5))))
    worker.start()
    worker.join()
    assert first.dtype == np.float32 and first.shape == (7, 5)
    assert np.array_equal(first, again) and np.array_equal(first, in_thread["u"])
    assert not np.array_equal(first, mask_uniforms(2**53 - 2, (7, 5)))


def test_mask_uniforms_are_uniform_and_unrelated_across_nearby_sub_seeds():
    n = 200_000
    u = mask_uniforms(12345, (n,))
    assert 0.0 <= u.min() and u.max() < 1.0
    for q in (0.1, 0.5, 0.9):
        assert_share(int((u < q).sum()), n, q, f"mask values below {q}")
    # consecutive sub-seeds: the two masks agree (both below 1/2 or both above) half the time
    v = mask_uniforms(12346, (n,))
    assert_share(int(((u < 0.5) == (v < 0.5)).sum()), n, 0.5, "agreement of neighbouring masks")
