"""Imports run one way: cli → jobs → runner (engine, ledger) → readers, writers → engine (augmentation), mixsets →
disk, imaging, formats, seeding. Every import of every module (function-level ones included) is checked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ipmix_cli"

#: Each top-level part of the package and its layer; a module imports only its own layer or lower ones.
LAYERS = {
    "__init__": 6,
    "__main__": 6,
    "cli": 6,
    "transform": 6,
    "adapters": 6,
    "preview": 6,
    "jobs": 5,
    "corruptions": 3,
    "runner": 4,
    "readers": 3,
    "writers": 3,
    "engine": 2,
    "mixsets": 2,
    "inputs": 2,
    "labels": 2,
    "disk": 1,
    "imaging": 1,
    "formats": 1,
    "items": 1,
    "seeding": 1,
    "errors": 0,
    "allocator": 0,
}
#: Parts of one layer that must not import each other (readers and writers share only ``formats``).
APART = {frozenset({"readers", "writers"})}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def _name(path: Path) -> list[str]:
    return list(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _imports(source: str, parts: list[str]) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import in ``source`` (the module ``parts``), relative ones
    resolved."""
    package = parts[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
            else:
                names = [node.module or ""]
            found += [(name, node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name == "ipmix_cli" or name.startswith("ipmix_cli.")]


def test_every_part_of_the_package_has_a_layer():
    parts = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in _modules()}
    assert parts <= set(LAYERS), f"give these parts a layer in LAYERS: {sorted(parts - set(LAYERS))}"


def _against_the_layers(source: str, parts: list[str]) -> list[str]:
    here = _part(".".join(parts))
    wrong = []
    for module, line in _imports(source, parts):
        there = _part(module)
        if there not in LAYERS:
            continue
        if LAYERS[there] > LAYERS[here] or frozenset({here, there}) in APART:
            wrong.append(f"line {line}: {here} (layer {LAYERS[here]}) imports {module} (layer {LAYERS[there]})")
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_run_one_way(path):
    wrong = _against_the_layers(path.read_text(), _name(path))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "source, parts",
    [
        ("from ..runner import engine\n", ["ipmix_cli", "readers", "probe"]),
        ("def late():\n    from ..writers.parquet import row\n", ["ipmix_cli", "readers", "probe"]),
        ("import ipmix_cli.jobs.augment\n", ["ipmix_cli", "engine", "probe"]),
        ("from .. import cli\n", ["ipmix_cli", "disk", "__init__"]),
    ],
)
def test_the_check_catches_an_import_against_the_layers(source, parts):
    """The test above can fail: each of these runs against the layers."""
    assert _against_the_layers(source, parts)
