"""Every output is byte-identical to what ipmix 0.3.0 wrote for the same command (``tests/pinned/cases.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "pinned"))
from cases import PINNED, cli_invoke, run_all  # noqa: E402


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    return run_all(tmp_path_factory.mktemp("pinned"), cli_invoke)


PINNED_RESULTS = json.loads(PINNED.read_text())


@pytest.mark.parametrize("name", sorted(PINNED_RESULTS["augment"]))
def test_augment_outputs_are_the_pinned_bytes(produced, name):
    assert produced["augment"][name] == PINNED_RESULTS["augment"][name]


@pytest.mark.parametrize("name", sorted(PINNED_RESULTS["fractals"]))
def test_fractal_pictures_are_the_pinned_bytes(produced, name):
    assert produced["fractals"][name] == PINNED_RESULTS["fractals"][name]
