"""OUT is made as the kernel reads its path (issue 21): only the missing tail is made, one folder at a time, and
a '..' after a component that does not exist is refused: ``ipmix augment in nonexist/../out`` made ``nonexist/``
beside OUT (``os.makedirs``). The same for ``fractals build`` and for ``preview -o``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.disk.atomic import write_bytes_atomic
from ipmix_cli.disk.folder import FolderError, make_folder


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder holding ``exist/`` (a folder), ``file`` (a file) and ``link`` (to ``far/away``)."""
    work = tmp_path / "work"
    (work / "exist").mkdir(parents=True)
    (work / "file").write_text("in the way")
    (tmp_path / "far" / "away").mkdir(parents=True)
    (work / "link").symlink_to(tmp_path / "far" / "away")
    monkeypatch.chdir(work)
    return work


REFUSED = [
    "nonexist/../out",
    "nonexist/./../out",
    "a/nonexist/../../out",
    "exist/new/../out",
    "exist/../new/../out",
    "nonexist/..",
    "new/sub/../../out",
]


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize("out", REFUSED)
def test_a_dotdot_after_a_missing_folder_is_refused_and_nothing_is_made(place, out, absolute):
    given = str(place / out) if absolute else out
    before = tree(place.parent)
    with pytest.raises(FolderError) as refused:
        make_folder(given)
    assert tree(place.parent) == before
    assert "does not exist" in refused.value.strerror and "'..'" in refused.value.strerror


MADE = {
    "out": "work/out",
    "exist/../out": "work/out",
    "./new/./deep/": "work/new/deep",
    "exist/../new/deep": "work/new/deep",
    "link/../out": "far/out",  # the kernel reads link/.. as the link's target's parent, as mkdir -p would
    "link/new": "far/away/new",
    "exist": "work/exist",
}


@pytest.mark.parametrize("out", sorted(MADE))
def test_a_path_whose_dotdots_follow_existing_folders_is_made_where_the_kernel_says(place, out):
    before = tree(place.parent)
    made = make_folder(out)
    assert made == (place.parent / MADE[out]).resolve() and made.is_dir()
    added = tree(place.parent) - before
    wanted = Path(MADE[out])
    assert added <= {wanted.as_posix(), *(parent.as_posix() for parent in wanted.parents)}


@pytest.mark.parametrize("out", ["file", "file/sub", "exist/../file/sub"])
def test_a_file_in_the_way_is_one_error(place, out):
    with pytest.raises(FolderError):
        make_folder(out)
    assert (place / "file").read_text() == "in the way"


def test_augment_and_fractals_build_and_preview_make_nothing_off_the_way(place, mixing_dir):
    make_inputs(place / "exist" / "in", 1, labels=None)
    runner = CliRunner()
    before = tree(place.parent)
    augment = runner.invoke(main, ["augment", "exist/in", "nonexist/../out", "--mixing-set", str(mixing_dir)])
    assert augment.exit_code == 2 and "does not exist" in augment.output and "Traceback" not in augment.output
    build = runner.invoke(main, ["fractals", "build", "nonexist/../set", "--count", "1", "--size", "8", "-q"])
    assert build.exit_code != 0 and "does not exist" in build.output and "Traceback" not in build.output
    image = place / "exist" / "in" / "img0000.png"
    preview = runner.invoke(
        main, ["preview", str(image), "-o", "nonexist/../sheet.png", "--mixing-set", str(mixing_dir)]
    )
    assert preview.exit_code != 0 and "Traceback" not in preview.output
    assert tree(place.parent) == before


def test_an_atomic_write_makes_no_folder_off_its_way(place):
    with pytest.raises(FolderError):
        write_bytes_atomic(Path("nonexist/../x.bin"), b"data")
    assert not os.path.lexists("nonexist") and not os.path.lexists("x.bin")
    write_bytes_atomic(Path("exist/../new/x.bin"), b"data")
    assert (place / "new" / "x.bin").read_bytes() == b"data"


def test_a_non_utf8_out_in_a_utf8_locale_is_made(place):
    name = os.fsdecode(b"caf\xe9")
    made = make_folder(name)
    assert made.is_dir() and os.fsencode(made.name) == b"caf\xe9"
    Image.new("RGB", (2, 2)).save(made / "x.png")  # an ordinary folder


def test_a_dotdot_after_a_file_says_the_file_is_no_folder(place):
    with pytest.raises(FolderError) as refused:
        make_folder("file/../out")
    assert "file is not a folder" in refused.value.strerror
    assert not os.path.lexists("out")
