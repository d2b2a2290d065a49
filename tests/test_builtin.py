"""The built-in mixing set: built on first use into the user's cache, checked before every use, repaired when
damaged, safely under concurrency, and a clear error when its cache cannot be written (issue 10, rule 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tmpfs import mounted_tmpfs, remount

from conftest import folder_bytes, make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.jobs import builtin_set as builtin
from ipmix_cli.jobs.fractals import BuildConfig
from ipmix_cli.mixsets.mixing_set import MixingSet

SMALL = BuildConfig(count=6, size=32, seed=0)


@pytest.fixture
def small_builtin(monkeypatch, tmp_path):
    """A six-picture built-in set in a private cache; returns its folder, built, and its fingerprint."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(builtin, "BUILTIN", SMALL)
    folder = builtin.ensure_builtin(show_progress=False)
    return folder, MixingSet.from_folder(folder).fingerprint


def test_builtin_set_is_built_once_into_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(builtin, "BUILTIN", SMALL)
    folder = builtin.ensure_builtin(show_progress=False)
    assert folder.parent == tmp_path / "ipmix"
    pictures = sorted(p.name for p in folder.glob("*.png"))
    assert pictures == [f"{i:04d}.png" for i in range(6)]
    stamp = (folder / "metadata.jsonl").stat().st_mtime_ns
    assert builtin.ensure_builtin(show_progress=False) == folder
    assert (folder / "metadata.jsonl").stat().st_mtime_ns == stamp, "rebuilt although complete"
    mixing = builtin.load_mixing_set(None, show_progress=False)
    assert len(mixing) == 6


def test_two_processes_building_at_once_agree(tmp_path):
    code = (
        "from ipmix_cli.jobs import builtin_set as builtin\n"
        "from ipmix_cli.jobs.fractals import BuildConfig\n"
        "builtin.BUILTIN = BuildConfig(count=24, size=48, seed=0)\n"
        "print(builtin.load_mixing_set(None, show_progress=False).fingerprint)\n"
    )
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    processes = [
        subprocess.Popen([sys.executable, "-c", code], env=environment, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    fingerprints = [p.communicate()[0].strip() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert fingerprints[0] == fingerprints[1] and len(fingerprints[0]) == 64
    leftovers = [p.name for p in (tmp_path / "ipmix").iterdir()]
    assert len(leftovers) == 1, leftovers  # the loser's staging folder is gone


def test_the_first_build_says_so_on_stderr_once(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(builtin, "BUILTIN", BuildConfig(count=3, size=32, seed=0))
    folder = builtin.ensure_builtin(show_progress=True)
    first = capsys.readouterr()
    assert first.out == ""
    assert first.err.count("building the built-in mixing set") == 1 and str(folder) in first.err
    builtin.ensure_builtin(show_progress=True)
    assert capsys.readouterr() == ("", "")


def _truncate(folder: Path, outside: Path) -> None:
    data = (folder / "0002.png").read_bytes()
    (folder / "0002.png").write_bytes(data[: len(data) // 2])


def _flip(folder: Path, outside: Path) -> None:
    data = bytearray((folder / "0002.png").read_bytes())
    data[-40] ^= 0x10  # image data: the file still opens and its text chunk still reads
    (folder / "0002.png").write_bytes(bytes(data))


def _link_picture(folder: Path, outside: Path) -> None:
    (folder / "0002.png").unlink()
    (folder / "0002.png").symlink_to(outside / "precious.png")


def _folder_in_place(folder: Path, outside: Path) -> None:
    (folder / "0002.png").unlink()
    (folder / "0002.png").mkdir()
    (folder / "0002.png" / "x.txt").write_text("in the way")


def _stray(folder: Path, outside: Path) -> None:
    (folder / "extra.png").write_bytes((folder / "0001.png").read_bytes())


def _nested_stray(folder: Path, outside: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.jpg").write_bytes((folder / "0001.png").read_bytes())


def _old_format(folder: Path, outside: Path) -> None:
    lines = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    (folder / "metadata.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in line.items() if k != "sha256"}) + "\n" for line in lines)
    )


def _tampered_record(folder: Path, outside: Path) -> None:
    record = json.loads((folder / "ipmix_fractals.json").read_text())
    (folder / "ipmix_fractals.json").write_text(json.dumps({**record, "count": 10**12}))


def _tampered_lines(folder: Path, outside: Path) -> None:
    lines = (folder / "metadata.jsonl").read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), "file_name": str(outside / "precious.png")})
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def _link_folder(folder: Path, outside: Path) -> None:
    import shutil

    shutil.rmtree(folder)
    folder.symlink_to(outside, target_is_directory=True)


def _file_folder(folder: Path, outside: Path) -> None:
    import shutil

    shutil.rmtree(folder)
    folder.write_text("a file where the cache folder should be")


DAMAGE = {
    "deleted picture": lambda folder, outside: (folder / "0003.png").unlink(),
    "truncated picture": _truncate,
    "bit flip": _flip,
    "picture is a link out": _link_picture,
    "folder where a picture should be": _folder_in_place,
    "stray image": _stray,
    "stray image in a sub-folder": _nested_stray,
    "metadata deleted": lambda folder, outside: (folder / "metadata.jsonl").unlink(),
    "record deleted": lambda folder, outside: (folder / "ipmix_fractals.json").unlink(),
    "record tampered": _tampered_record,
    "metadata names a path outside": _tampered_lines,
    "made by an older ipmix": _old_format,
    "the set is a link to another folder": _link_folder,
    "the set is a file": _file_folder,
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_is_repaired_before_use_to_the_same_pictures(small_builtin, tmp_path, damage, capsys):
    folder, pristine = small_builtin
    outside = tmp_path / "mine"
    outside.mkdir()
    (outside / "precious.png").write_bytes(b"the user's own file")
    (outside / "0000.png").write_bytes(b"also the user's")
    DAMAGE[damage](folder, outside)
    capsys.readouterr()

    assert builtin.ensure_builtin(show_progress=True) == folder
    assert "repairing the built-in mixing set" in capsys.readouterr().err or damage.startswith("the set is")
    mixing = MixingSet.from_folder(folder)
    assert mixing.fingerprint == pristine and len(mixing) == SMALL.count
    assert sorted(p.name for p in outside.iterdir()) == ["0000.png", "precious.png"]
    assert (outside / "precious.png").read_bytes() == b"the user's own file"
    assert (outside / "0000.png").read_bytes() == b"also the user's"
    assert builtin.builtin_problem(folder) is None and not folder.is_symlink()
    assert all("sha256" in json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_truncating_a_cached_picture_no_longer_changes_the_outputs(small_builtin, tmp_path):
    """Before: the damaged picture was silently left out, so the same command and seed gave other files."""
    folder, _ = small_builtin
    make_inputs(tmp_path / "in", 6, size=(20, 24))
    runner = CliRunner()
    first = runner.invoke(
        main, ["augment", str(tmp_path / "in"), str(tmp_path / "a"), "--seed", "1", "--jobs", "1", "--quiet"]
    )
    assert first.exit_code == 0, first.output
    _truncate(folder, tmp_path)
    second = runner.invoke(main, ["augment", str(tmp_path / "in"), str(tmp_path / "b"), "--seed", "1", "--jobs", "1"])
    assert second.exit_code == 0, second.output
    assert "repairing the built-in mixing set" in second.stderr
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")


def _one_line_error(result, folder: Path) -> str:
    assert result.exit_code not in (0, None) and "Traceback" not in result.output
    message = result.stderr.strip().splitlines()[-1]
    assert str(folder) in message and "XDG_CACHE_HOME" in message and "--mixing-set" in message
    return message


@pytest.mark.slow
def test_a_file_where_the_cache_folder_should_be_is_an_error_only_when_the_builtin_set_is_needed(
    monkeypatch, tmp_path, mixing_dir
):
    monkeypatch.setattr(builtin, "BUILTIN", SMALL)
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_inputs(tmp_path / "in", 2)
    runner = CliRunner()
    result = runner.invoke(main, ["augment", str(tmp_path / "in"), str(tmp_path / "o1"), "--seed", "0", "--jobs", "1"])
    _one_line_error(result, builtin.builtin_folder())
    assert not (tmp_path / "o1").exists()
    given = runner.invoke(
        main,
        [
            "augment",
            str(tmp_path / "in"),
            str(tmp_path / "o2"),
            "--seed",
            "0",
            "--jobs",
            "1",
            "--mixing-set",
            str(mixing_dir),
            "--quiet",
        ],
    )
    assert given.exit_code == 0, given.output


def test_a_full_cache_folder_is_a_one_line_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "BUILTIN", SMALL)
    with mounted_tmpfs(tmp_path / "cache", "12k") as cache:
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        make_inputs(tmp_path / "in", 2)
        result = CliRunner().invoke(main, ["augment", str(tmp_path / "in"), str(tmp_path / "o"), "--seed", "0"])
        message = _one_line_error(result, builtin.builtin_folder())
        assert "No space left on device" in message
        assert [p.name for p in (cache / "ipmix").iterdir()] == []  # the staging folder is cleaned up


def test_a_read_only_cache_is_used_when_whole_and_an_error_when_it_needs_a_repair(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "BUILTIN", SMALL)
    with mounted_tmpfs(tmp_path / "cache", "4m") as cache:
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        folder = builtin.ensure_builtin(show_progress=False)
        pristine = MixingSet.from_folder(folder).fingerprint
        remount(cache, "ro")
        assert builtin.load_mixing_set(None, show_progress=False).fingerprint == pristine
        remount(cache, "rw")
        (folder / "0001.png").unlink()
        remount(cache, "ro")
        with pytest.raises(builtin.BuiltinUnavailable) as caught:
            builtin.ensure_builtin(show_progress=False)
        message = str(caught.value)
        assert "Read-only file system" in message and str(folder) in message and "--mixing-set" in message


def test_two_processes_repairing_at_once_agree(small_builtin, tmp_path):
    folder, pristine = small_builtin
    (folder / "0000.png").unlink()
    _truncate(folder, tmp_path)
    code = (
        "from ipmix_cli.jobs import builtin_set as builtin\n"
        "from ipmix_cli.jobs.fractals import BuildConfig\n"
        f"builtin.BUILTIN = BuildConfig(count={SMALL.count}, size={SMALL.size}, seed={SMALL.seed})\n"
        "print(builtin.load_mixing_set(None, show_progress=False).fingerprint)\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    fingerprints = [p.communicate()[0].strip() for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert fingerprints == [pristine, pristine]
    assert builtin.builtin_problem(folder) is None
