"""Names are bytes, decoded the same way in every locale (issue 21): under ``LC_ALL=C PYTHONUTF8=0`` Python's
file-system encoding is ASCII, and a valid UTF-8 name such as ``café.png`` was refused as "not valid UTF-8".
Runs in the C locale must find, name, write, verify and resume exactly what a UTF-8 locale does, and refuse
a name that is not UTF-8 the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, photo_like
from ipmix_cli.cli.main import main

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}
NAMES = ["café.png", "chat_é/naïve.png", "日本/猫.png", "🐱.png", "cafe\u0301.png", "with space/ä b.png"]
NOT_UTF8 = b"bad\xe9.png"


def make_in(root: Path) -> None:
    for index, name in enumerate(NAMES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(12, 10, seed=index)).save(path, "PNG")
    (root / "plain.png").write_bytes((root / NAMES[0]).read_bytes())
    with open(os.path.join(os.fsencode(root), NOT_UTF8), "wb") as stream:
        stream.write((root / NAMES[0]).read_bytes())


def in_c_locale(*arguments: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    environment.update(C_LOCALE)
    environment.pop("PYTHONIOENCODING")
    command = [sys.executable, "-m", "ipmix_cli", *arguments]
    return subprocess.run(command, capture_output=True, env=environment)


def test_the_interpreter_really_runs_with_an_ascii_file_system_encoding():
    completed = in_c_locale_python("import sys; print(sys.getfilesystemencoding(), sys.flags.utf8_mode)")
    assert completed.stdout.split() == [b"ascii", b"0"]


def in_c_locale_python(code: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    environment.update(C_LOCALE)
    environment.pop("PYTHONIOENCODING")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=environment)


def _run_record(out: Path) -> dict:
    return json.loads((out / "ipmix_run.json").read_text(encoding="utf-8"))


def test_a_run_in_the_c_locale_writes_exactly_what_a_utf8_locale_writes(tmp_path, mixing_dir):
    make_in(tmp_path / "in")
    common = ["--seed", "3", "--k", "1", "--jobs", "1", "--backend", "threading", "--mixing-set", str(mixing_dir)]
    c_out, utf8_out = tmp_path / "c", tmp_path / "utf8"
    completed = in_c_locale("augment", str(tmp_path / "in"), str(c_out), *common, "--quiet")
    assert completed.returncode == 1, completed.stderr
    assert b"Traceback" not in completed.stderr
    result = CliRunner().invoke(main, ["augment", str(tmp_path / "in"), str(utf8_out), *common, "--quiet"])
    assert result.exit_code == 1
    assert folder_bytes(c_out) == folder_bytes(utf8_out)
    assert sorted(
        json.loads(line)["source"] for line in (c_out / "metadata.jsonl").read_text("utf-8").splitlines()
    ) == sorted([*NAMES, "plain.png"])
    failed = [f["source"] for f in _run_record(c_out)["failures"]]
    assert failed == [f["source"] for f in _run_record(utf8_out)["failures"]] == ["bad\\xe9.png"]


@pytest.mark.slow
def test_listing_verifying_resuming_and_shards_in_the_c_locale(tmp_path, mixing_dir):
    make_in(tmp_path / "in")
    common = ["--seed", "3", "--k", "1", "--jobs", "1", "--backend", "threading", "--mixing-set", str(mixing_dir)]
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_bytes("\n".join(NAMES).encode("utf-8") + b"\n")
    listed = in_c_locale("augment", str(tmp_path / "in"), str(out), *common, "--files-from", str(listing), "-q")
    assert listed.returncode == 0, listed.stderr
    assert in_c_locale("verify", str(out)).returncode == 0
    again = in_c_locale("augment", str(tmp_path / "in"), str(out), *common, "--files-from", str(listing))
    assert again.returncode == 0 and b"nothing to do" in again.stderr, again.stderr
    # a folder of WebDataset shards with non-ASCII names, written as shards
    shards = tmp_path / "shards"
    shards.mkdir()
    with tarfile.open(shards / "données.tar", "w") as archive:
        for index, name in enumerate(NAMES[:3]):
            archive.add(tmp_path / "in" / name, arcname=f"s{index}_é.png")
    written = in_c_locale("augment", str(shards), str(tmp_path / "wds"), *common, "--output-format", "webdataset")
    assert written.returncode == 0, written.stderr
    assert in_c_locale("verify", str(tmp_path / "wds")).returncode == 0
    sources = {
        json.loads(line)["source"]
        for line in (tmp_path / "wds" / ".ipmix" / "metadata.jsonl").read_text("utf-8").splitlines()
    }
    assert sources == {f"données.tar/s{index}_é" for index in range(3)}


def _c_locale_case(tmp_path, case: str, mixing_dir) -> list[str]:
    (tmp_path / "in").mkdir()
    Image.fromarray(photo_like(8, 8)).save(tmp_path / "in" / "ß.png")
    common = ["--seed", "1", "--k", "1", "--jobs", "1", "--backend", "threading", "--mixing-set", str(mixing_dir)]
    if case == "out":
        return ["augment", str(tmp_path / "in"), str(tmp_path / "sortie_é"), *common]
    if case == "print":
        return ["augment", str(tmp_path / "in"), str(tmp_path / "out"), *common, "--print", "paths"]
    if case == "mixing":
        (tmp_path / "mixé").mkdir()
        Image.fromarray(photo_like(32, 32)).save(tmp_path / "mixé" / "pïc.png")
        return ["augment", str(tmp_path / "in"), str(tmp_path / "out"), *common[:-1], str(tmp_path / "mixé")]
    return ["preview", str(tmp_path / "in"), "-o", str(tmp_path / "sheet.png"), "--mixing-set", str(mixing_dir)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "out",  # job/state.py write_json: the run record's 'out' holds surrogates (argv decoded as ASCII)
        "print",  # cli/main.py emit: text written to an ASCII stdout
        "mixing",  # mixsets/files.py visible_files: names in the locale's encoding, fingerprint_of encodes UTF-8
        "preview",  # preview.py: open(root / source) mixes the locale's names with UTF-8 keys
    ],
)
def test_out_print_mixing_folders_and_previews_in_the_c_locale(tmp_path, mixing_dir, case):
    completed = in_c_locale(*_c_locale_case(tmp_path, case, mixing_dir))
    assert completed.returncode == 0, completed.stderr
    assert b"Error" not in completed.stderr and b"Traceback" not in completed.stderr


@pytest.mark.slow
def test_an_in_folder_whose_path_is_not_utf8(tmp_path, mixing_dir):
    folder = os.path.join(os.fsencode(tmp_path), b"in\xe9")
    os.mkdir(folder)
    Image.fromarray(photo_like(8, 8)).save(os.fsdecode(os.path.join(folder, b"a.png")))
    command = [sys.executable, "-m", "ipmix_cli", "augment", os.fsdecode(folder), str(tmp_path / "out")]
    command += ["--seed", "1", "--k", "1", "--jobs", "1", "--backend", "threading", "--mixing-set", str(mixing_dir)]
    completed = subprocess.run(command, capture_output=True)
    assert completed.returncode == 0 and b"Traceback" not in completed.stderr, completed.stderr
