"""The command's entry points: --help and --version, in process and as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import ipmix_cli
from ipmix_cli.cli.main import main


def test_version_in_process():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ipmix, version {ipmix_cli.__version__}"


def test_help_in_process():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "ipmix augment in/ out/ --k 4 --seed 0" in result.output


def test_version_as_a_subprocess():
    completed = subprocess.run(
        [sys.executable, "-m", "ipmix_cli", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert ipmix_cli.__version__ in completed.stdout
