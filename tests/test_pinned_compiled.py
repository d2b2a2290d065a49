"""The pinned 0.3.0 bytes (``test_pinned_bytes.py``) again, made by the compiled kernels.

The commands run in this process (``--backend threading`` with one job runs every task inline, where
``compiled.using`` holds; loky's workers would be separate processes that may be reused from earlier tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

sys.path.insert(0, str(Path(__file__).parent / "pinned"))
from cases import PINNED, cli_invoke, run_all  # noqa: E402
from ipmix_cli.engine import compiled  # noqa: E402

PINNED_RESULTS = json.loads(PINNED.read_text())


def _inline(arguments: list[str]) -> None:
    assert compiled.active() is not None
    if arguments[0] == "augment":
        arguments = [*arguments, "--backend", "threading"]
    cli_invoke(arguments)


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    with compiled.using("compiled"):
        return run_all(tmp_path_factory.mktemp("pinned-compiled"), _inline)


@pytest.mark.parametrize("name", sorted(PINNED_RESULTS["augment"]))
def test_compiled_augment_outputs_are_the_pinned_bytes(produced, name):
    assert produced["augment"][name] == PINNED_RESULTS["augment"][name]


@pytest.mark.parametrize("name", sorted(PINNED_RESULTS["fractals"]))
def test_compiled_fractal_pictures_are_the_pinned_bytes(produced, name):
    assert produced["fractals"][name] == PINNED_RESULTS["fractals"][name]
