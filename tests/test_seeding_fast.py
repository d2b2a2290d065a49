"""The generators of ``seeding`` (made from SeedSequence's words computed in Python, for speed) are numpy's:
the same states, and a seed sequence that behaves as numpy's."""

from __future__ import annotations

import pickle

import numpy as np

from ipmix_cli.seeding import generator_for, generator_for_index, path_digest


def test_the_generators_are_numpys_seed_sequences_exactly():
    """``generator_for`` and ``generator_for_index`` compute SeedSequence's state themselves (faster): the same
    state as numpy's for seeds, paths and copy numbers of every size, and the seed sequence behaves as numpy's."""
    for seed in (0, 1, 7, 2**32 - 1, 2**32, 2**64 + 3, 2**130 + 5):
        for path in ("a.png", "cats/tabby 01.jpg", "é/ß.png", ""):
            digest = path_digest(path)
            for copy in (0, 1, 9, 2**32 - 1, 2**32, 2**70 + 1):
                expected = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(digest, copy)))
                assert generator_for(seed, path, copy).bit_generator.state == expected.state
        for index in (0, 5, 2**33):
            expected = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,)))
            assert generator_for_index(seed, index).bit_generator.state == expected.state
    made = generator_for(3, "a.png", 2)
    sequence = made.bit_generator.seed_seq
    numpys = np.random.SeedSequence(3, spawn_key=(path_digest("a.png"), 2))
    assert sequence.spawn_key == numpys.spawn_key and sequence.entropy == 3
    assert sequence.generate_state(8).tolist() == numpys.generate_state(8).tolist()
    assert [child.generate_state(2).tolist() for child in sequence.spawn(2)] == [
        child.generate_state(2).tolist() for child in numpys.spawn(2)
    ]
    again = pickle.loads(pickle.dumps(made))
    assert again.random(4).tolist() == made.random(4).tolist()
