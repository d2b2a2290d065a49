"""The built-in mixing set: built on first use into the user's cache, safely under concurrency."""

from __future__ import annotations

import os
import subprocess
import sys

from ipmix_cli.mixsets import builtin
from ipmix_cli.mixsets.build import BuildConfig


def test_builtin_set_is_built_once_into_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(builtin, "BUILTIN", BuildConfig(count=6, size=32, seed=0))
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
        "from ipmix_cli.mixsets import builtin\n"
        "from ipmix_cli.mixsets.build import BuildConfig\n"
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
