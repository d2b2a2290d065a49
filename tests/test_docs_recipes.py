"""Every ```python block of the README and of docs/*.md runs (issue 22), in a folder holding ``photos/``:
ten images of ten sizes and four modes in ImageFolder layout, as the guides describe. A block that imports
torch, torchvision, timm, albumentations, webdataset or datasets is skipped where that is not installed;
every DataLoader a block makes must give a batch. What a block takes from the prose around it (an OUT the
command wrote, a model) is made here by running the command. The README's ``# recipe:`` blocks need a real
OUT and are run by tests/test_operations.py; here they are only checked to be run there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import photo_like
from ipmix_cli.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("torch", "torchvision", "timm", "albumentations", "webdataset", "datasets")
DOCS = sorted(path.name for path in (ROOT / "docs").glob("*.md"))
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


def invoke(*arguments: str) -> None:
    result = CliRunner().invoke(main, [*arguments, "--jobs", "1", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def shards(root: Path) -> dict:
    """out/ and parquet/ as docs/shards.md reads them: the WebDataset and the Parquet shards of photos/."""
    for output, folder in (("webdataset", "out"), ("parquet", "parquet")):
        invoke(
            "augment",
            "photos",
            folder,
            "--k",
            "2",
            "--seed",
            "0",
            "--output-format",
            output,
            "--samples-per-shard",
            "2",
        )
    assert len(list((root / "out").glob("*.tar"))) == 10 and len(list((root / "parquet").glob("*.parquet"))) == 10
    return {}


def corrupted_and_a_model(root: Path) -> dict:
    """cifar-c-mine/ of same-sized images, and the model, normalisation and clean error the recipe names."""
    import torch

    invoke(
        "corrupt",
        "photos",
        "cifar-c-mine",
        "--resize",
        "32",
        "--crop",
        "32",
        "--corruptions",
        "fog,gaussian_noise",
        "--severities",
        "1,5",
        "--seed",
        "0",
    )
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))
    return {"model": model, "MEAN": (0.5, 0.5, 0.5), "STD": (0.25, 0.25, 0.25), "clean_error": 0.5}


#: What a block of a page takes from its prose, by a line the block holds.
GIVEN = {
    ("shards.md", 'Path("out")'): shards,
    ("corruptions.md", 'Path("cifar-c-mine")'): corrupted_and_a_model,
}


def given(where: str, code: str, root: Path) -> dict:
    page = where.split(":")[0].split("/")[-1]
    return next((make(root) for (name, line), make in GIVEN.items() if name == page and line in code), {})


def run_block(where: str, code: str, monkeypatch, root: Path | None = None) -> None:
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
    namespace = {"__name__": "__recipe__", **(given(where, code, root) if root else {})}
    try:
        exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the documentation's own code
        for loader in loaders:  # mixed sizes: a batch must stack
            batch = next(iter(loader))
            assert batch is not None, where
    finally:
        if "torch" in imported(code):
            torch.set_rng_state(saved)


DOC_BLOCKS = [block for name in DOCS for block in python_blocks(f"docs/{name}")]


@pytest.mark.slow
@pytest.mark.parametrize("where, code", cases(DOC_BLOCKS))
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # workers on a 2-core machine
def test_every_docs_block_runs(where, code, in_photos, monkeypatch):
    run_block(where, code, monkeypatch, in_photos)


README_BLOCKS = [(where, code) for where, code in python_blocks("README.md") if not code.startswith("# recipe: ")]


@pytest.mark.parametrize("where, code", cases(README_BLOCKS))
def test_every_readme_block_runs(where, code, in_photos, monkeypatch):
    run_block(where, code, monkeypatch, in_photos)


def test_every_page_with_code_is_run():
    """A page gaining a python block is run by the tests above without being listed anywhere."""
    pages = {where.split(":")[0] for where, _ in DOC_BLOCKS}
    assert {"docs/python-api.md", "docs/shards.md", "docs/corruptions.md"} <= pages
    assert len(README_BLOCKS) >= 1


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
