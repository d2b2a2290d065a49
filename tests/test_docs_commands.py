"""Every ``ipmix …`` command line shown in the README and in docs/*.md is one the command accepts: its
subcommand exists and click parses its options and arguments (types, choices, paths that must exist) in a
folder holding the paths it names. Renaming or dropping an option without updating the pages fails here."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import pytest

from ipmix_cli.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))]
#: Placeholders of the pages, and what they stand for here.
STAND_INS = {"/shared/in": "in/", "/shared/out": "out/", "${SLURM_ARRAY_TASK_ID}": "3"}


def command_lines() -> list[tuple[str, str]]:
    """(``page:line``, the ipmix command) of every line of a non-python code block that runs ipmix."""
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            if block.group(1) == "python":
                continue
            first = text.count("\n", 0, block.start(2)) + 1
            for offset, line in enumerate(block.group(2).splitlines()):
                for part in re.split(r" \| | && ", line.split("  #")[0]):
                    part = part.strip().removeprefix("$ ")
                    if part.startswith("ipmix "):
                        found.append((f"{page}:{first + offset}", part))
    return found


def parse(command: str) -> None:
    """Parse one command line as the shell would hand it over, down to its subcommand; never run it."""
    for placeholder, value in STAND_INS.items():
        command = command.replace(placeholder, value)
    words = [word for word in shlex.split(command)[1:] if word != "..."]
    group: click.Command = main
    while isinstance(group, click.Group):
        assert words and words[0] in group.commands, f"no command {words[:1]} in {command!r}"
        group = group.commands[words.pop(0)]
    try:
        group.make_context(group.name, words)
    except click.exceptions.Exit:  # --help
        pass


@pytest.fixture
def documented_paths(tmp_path, monkeypatch):
    """A folder with the paths the pages name: image folders, a mixing set, the samples, an OUT."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    for folder in ("in", "val", "mixing", "shards"):
        shutil.copytree(ROOT / "samples" / "everyday", tmp_path / folder / "everyday")
    (tmp_path / "out").mkdir()  # for verify and merge, which read an OUT
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("where, command", command_lines(), ids=[where for where, _ in command_lines()])
def test_every_documented_command_parses(where, command, documented_paths):
    parse(command)


def test_the_pages_show_every_command():
    commands = {" ".join(command.split()[:3]) for _, command in command_lines()}
    for expected in (
        "ipmix augment in/",
        "ipmix corrupt val/",
        "ipmix fractals build",
        "ipmix verify out/",
        "ipmix merge /shared/out",
        "ipmix preview samples/",
    ):
        assert any(command.startswith(expected) for command in commands), expected


def test_a_wrong_option_would_be_caught(documented_paths):
    with pytest.raises(click.exceptions.NoSuchOption):
        parse("ipmix augment in/ out/ --kk 4")
    with pytest.raises(click.exceptions.BadParameter):
        parse("ipmix augment in/ out/ --method cutmix")
    with pytest.raises(AssertionError):
        parse("ipmix augmint in/ out/")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(
        r"^#+ (.+)$", re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M), re.M
    )
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES)
def test_every_link_between_pages_leads_somewhere(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    for target, anchor in re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", text):
        path = (ROOT / page).parent.joinpath(target) if target else ROOT / page
        assert path.exists(), f"{page} links to {target}, which is missing"
        if anchor:
            assert anchor in anchors(path), f"{page} links to {target}#{anchor}: no such heading"
