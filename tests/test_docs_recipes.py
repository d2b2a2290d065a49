"""Every ```python block of docs/python-api.md and of the README runs (issue 22), in a folder holding
``photos/``: ten images of ten sizes and four modes in ImageFolder layout, as the guide describes. A block
that imports torch, torchvision, timm or albumentations is skipped where that is not installed; every
DataLoader a block makes must give a batch. The README's ``# recipe:`` blocks need a real OUT and are run by
tests/test_operations.py; here they are only checked to be run there."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import photo_like
from ipmix_cli.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("torch", "torchvision", "timm", "albumentations")
#: (width, height, mode) of photos/cats/0.jpg, photos/dogs/1.png, photos/cats/2.jpg, …
PHOTOS = [
    (64, 48, "RGB"),
    (100, 40, "RGB"),
    (60, 90, "RGB"),
    (50, 75, "RGBA"),
    (47, 33, "L"),
    (36, 28, "RGB"),
    (80, 120, "RGB"),
    (130, 100, "P"),
    (64, 64, "RGB"),
    (50, 50, "RGB"),
]


def python_blocks(name: str) -> list[tuple[str, str]]:
    """(``file:line``, code) of every ```python block of ``name``."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return [
        (f"{name}:{text.count(chr(10), 0, match.start()) + 2}", match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


def cases(blocks: list[tuple[str, str]]) -> list:
    """The blocks as test cases: those that start worker processes, run the command or read shards it
    writes (a second or two each) are marked slow."""
    slow = ("num_workers=", "subprocess", "out/")
    return [
        pytest.param(where, code, id=where, marks=[pytest.mark.slow] if any(s in code for s in slow) else [])
        for where, code in blocks
    ]


def imported(code: str) -> set[str]:
    """The top-level modules a block imports."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def make_photos(root: Path) -> None:
    for index, (width, height, mode) in enumerate(PHOTOS):
        label, suffix = ("cats", ".jpg") if index % 2 == 0 else ("dogs", ".png")
        image = Image.fromarray(photo_like(height, width, seed=index))
        if mode == "RGBA":
            image.putalpha(Image.fromarray(photo_like(height, width, seed=50)[..., 0]))
        (root / "photos" / label).mkdir(parents=True, exist_ok=True)
        image.convert(mode).save(root / "photos" / label / f"{index}{suffix}")


@pytest.fixture
def in_photos(tmp_path, monkeypatch):
    """A working folder with photos/, the Hugging Face caches inside it and no network for them."""
    make_photos(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, value in (("HF_HOME", str(tmp_path / "hf")), ("HF_DATASETS_OFFLINE", "1"), ("HF_HUB_OFFLINE", "1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations' import would ask PyPI for a new version
    return tmp_path


def shards(root: Path) -> None:
    """root/out as the README's "Loading shards" block reads it: ten WebDataset shards (one input each) with
    their manifest, and the Parquet shards of the same inputs beside them."""
    for output, folder in (("webdataset", "out"), ("parquet", "parquet")):
        arguments = ["augment", "photos", folder, "--k", "2", "--seed", "0", "--output-format", output]
        arguments += ["--samples-per-shard", "2", "--jobs", "1", "--quiet"]
        result = CliRunner().invoke(main, arguments, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    for path in sorted((root / "parquet").glob("[0-9]*.parquet")):
        shutil.copy(path, root / "out" / path.name)
    assert len(list((root / "out").glob("*.tar"))) == 10


def run_block(where: str, code: str, monkeypatch) -> None:
    for module in sorted(imported(code) & set(OPTIONAL)):
        pytest.importorskip(module, reason=f"{where} needs {module}")
    loaders = []
    if "torch" in imported(code):
        import torch

        class Recorded(torch.utils.data.DataLoader):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                loaders.append(self)

        monkeypatch.setattr(torch.utils.data, "DataLoader", Recorded)
        saved = torch.get_rng_state()
    try:
        exec(compile(code, where, "exec"), {"__name__": "__recipe__"})  # noqa: S102 - the documentation's own code
        for loader in loaders:  # mixed sizes: a batch must stack
            batch = next(iter(loader))
            assert batch is not None, where
    finally:
        if "torch" in imported(code):
            torch.set_rng_state(saved)


@pytest.mark.slow
@pytest.mark.parametrize("where, code", cases(python_blocks("docs/python-api.md")))
def test_every_guide_block_runs(where, code, in_photos, monkeypatch):
    run_block(where, code, monkeypatch)


README_BLOCKS = [(where, code) for where, code in python_blocks("README.md") if not code.startswith("# recipe: ")]


@pytest.mark.parametrize("where, code", cases(README_BLOCKS))
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 4 workers on a 2-core machine
def test_every_readme_block_runs(where, code, in_photos, monkeypatch):
    if "out/" in code:
        shards(in_photos)
    run_block(where, code, monkeypatch)


def test_the_readme_recipes_that_need_an_out_are_run_by_test_operations():
    tested = (ROOT / "tests" / "test_operations.py").read_text(encoding="utf-8")
    recipes = [
        code.split("\n")[0].removeprefix("# recipe: ")
        for _, code in python_blocks("README.md")
        if code.startswith("# recipe: ")
    ]
    assert recipes == ["imagefolder", "datasets", "manifest"]
    for name in recipes:
        assert f'readme_recipe("{name}")' in tested, name


def test_the_photos_are_of_mixed_sizes_and_modes(tmp_path):
    make_photos(tmp_path)
    found = {}
    for path in (tmp_path / "photos").rglob("*.*"):
        with Image.open(path) as image:
            image.load()
            found[path.relative_to(tmp_path / "photos").as_posix()] = image
    assert len(found) == 10 and "cats/0.jpg" in found and "dogs/1.png" in found
    assert len({image.size for image in found.values()}) == 10
    assert {image.mode for image in found.values()} == {"RGB", "RGBA", "L", "P"}
    assert np.asarray(found["dogs/3.png"]).shape[2] == 4
