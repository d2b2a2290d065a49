"""``--files-from`` lists are read as a stream with bounds (issue 21): an entry longer than PATH_MAX, or an
endless run of blank entries, is a usage error naming the line, found after reading a bounded number of bytes;
a UTF-8 byte-order mark at the start is dropped; a closed standard input is one line, not a traceback; a name
that never existed is told from one removed during the run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.readers import folder as folder_module
from ipmix_cli.readers.folder import MAX_BLANK_ENTRIES, MAX_ENTRY_BYTES, ListError, read_list


def augment(*arguments, input=None):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], input=input, catch_exceptions=False)


def failures(out) -> dict[str, str]:
    return {f["source"]: f["error"] for f in json.loads((out / "ipmix_run.json").read_text())["failures"]}


class Endless(io.RawIOBase):
    """A stream that repeats ``pattern`` for ever, counting what was read from it."""

    def __init__(self, pattern: bytes, prefix: bytes = b""):
        self.pattern, self.prefix, self.given = pattern, prefix, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        data = self.prefix + self.pattern * (size // len(self.pattern) + 1)
        self.prefix = b""
        self.given += size
        return data[:size]


@pytest.mark.parametrize(
    "pattern, null, words",
    [
        (b"\0", False, "line 1 holds a NUL byte"),  # /dev/zero
        (b"\0", True, "entries 1–4097 are all blank"),  # /dev/zero --null
        (b"\n", False, "lines 1–4097 are all blank"),  # yes ''
        (b"a", False, "line 1 is longer than 4,096 bytes"),  # one endless line
        (b"a", True, "entry 1 is longer than 4,096 bytes"),
        (b"\xc3\x28", False, "line 1 is longer than 4,096 bytes"),  # endless binary
    ],
    ids=["zero", "zero-null", "blank-lines", "endless-line", "endless-entry", "binary"],
)
def test_an_endless_list_stops_after_a_bounded_read(tmp_path, pattern, null, words):
    stream = Endless(pattern)
    with pytest.raises(ListError, match=words):
        read_list(tmp_path, stream, null)
    assert stream.given <= 2 * (1 << 16) + MAX_ENTRY_BYTES * 2 + MAX_BLANK_ENTRIES * 2


@pytest.mark.parametrize("null", [False, True])
def test_an_overlong_entry_is_named_by_its_number(tmp_path, null):
    (tmp_path / "a.png").write_bytes(b"")
    end = b"\0" if null else b"\n"
    listing = b"a.png" + end + b"x" * MAX_ENTRY_BYTES + end + b"y" * (MAX_ENTRY_BYTES + 1) + end
    with pytest.raises(ListError, match=f"{'entry' if null else 'line'} 3 is longer than 4,096 bytes"):
        read_list(tmp_path, listing, null)


@pytest.mark.parametrize("null", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_a_byte_order_mark_at_the_start_is_dropped(tmp_path, null, crlf):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"")
    end = b"\0" if null else (b"\r\n" if crlf else b"\n")
    listed = read_list(tmp_path, b"\xef\xbb\xbfa.png" + end + b"b.png" + end, null)
    assert [(item.key, item.where[1:]) for item in listed] == [("a.png", ()), ("b.png", ())]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_the_stream_is_split_the_same_whatever_its_reads_return(tmp_path, chunk, monkeypatch):
    for name in ("a.png", "bb.png", "c.png"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(folder_module, "_CHUNK", chunk)
    listed = read_list(tmp_path, io.BytesIO(b"\xef\xbb\xbfa.png\nbb.png\r\n\nc.png"), False)
    assert [item.key for item in listed] == ["a.png", "bb.png", "c.png"]


def test_a_byte_order_mark_inside_the_list_is_part_of_a_name(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    listed = read_list(tmp_path, b"a.png\n\xef\xbb\xbfa.png\n", False)
    assert [item.key for item in listed] == ["a.png", "\ufeffa.png"]
    assert listed[1].where[1:] == ("missing",)


def test_a_list_with_a_byte_order_mark_runs(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 2)
    listing = tmp_path / "list.txt"
    listing.write_bytes(("\ufeff" + "\n".join(sources) + "\n").encode("utf-8"))
    out = tmp_path / "out"
    result = augment(
        tmp_path / "in",
        out,
        "--files-from",
        listing,
        "--mixing-set",
        mixing_dir,
        "--k",
        1,
        "--backend",
        "threading",
        "--jobs",
        1,
        "--quiet",
    )
    assert result.exit_code == 0, result.output


def test_a_name_that_never_existed_is_told_from_one_removed_during_the_run(tmp_path, mixing_dir, monkeypatch):
    sources = make_inputs(tmp_path / "in", 3)
    plan = folder_module.FolderReader.plan

    def plan_then_remove(self):
        found = plan(self)
        (tmp_path / "in" / sources[1]).unlink()  # gone after the run was planned
        return found

    monkeypatch.setattr(folder_module.FolderReader, "plan", plan_then_remove)
    out = tmp_path / "out"
    listing = "\n".join([sources[0], sources[1], "cats/never.png", "nowhere/x.png"]) + "\n"
    result = augment(
        tmp_path / "in",
        out,
        "--files-from",
        "-",
        "--mixing-set",
        mixing_dir,
        "--k",
        1,
        "--backend",
        "threading",
        "--jobs",
        1,
        "--quiet",
        input=listing,
    )
    assert result.exit_code == 1
    assert failures(out) == {
        "cats/never.png": "no such file under IN",
        "nowhere/x.png": "no such file under IN",
        sources[1]: "no such file (removed since the run started?)",
    }


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda path: None, "cannot read it: no such file"),
        (lambda path: path.mkdir(), "cannot read it: it is a folder"),
        (lambda path: (path.write_bytes(b"a.png\n"), path.chmod(0)), "cannot read it"),
    ],
    ids=["missing", "folder", "unreadable"],
)
def test_a_list_file_that_cannot_be_read_is_a_usage_error(tmp_path, make, words, mixing_dir):
    if words == "cannot read it" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    make(tmp_path / "list")
    (tmp_path / "in").mkdir()
    result = augment(tmp_path / "in", tmp_path / "out", "--files-from", tmp_path / "list", "--mixing-set", mixing_dir)
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_closed_standard_input_is_one_usage_line(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1)
    command = [
        sys.executable,
        "-m",
        "ipmix_cli",
        "augment",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        "--files-from",
        "-",
        "--mixing-set",
        str(mixing_dir),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, preexec_fn=lambda: os.close(0))
    assert completed.returncode == 2
    assert "standard input is closed" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_a_list_on_a_pipe_is_read_as_it_arrives(tmp_path):
    """The list is a stream: a list fed through a pipe need not end before ipmix starts reading it."""
    (tmp_path / "a.png").write_bytes(b"")
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"a.png\n" * 1000)
    os.close(write_fd)
    with open(read_fd, "rb") as stream:
        assert [item.key for item in read_list(tmp_path, stream, False)] == ["a.png"]


def test_control_characters_of_a_bad_entry_never_reach_the_terminal(tmp_path):
    with pytest.raises(ListError) as refused:
        read_list(tmp_path, b"../\x1b[31mred\n", False)
    assert "\x1b" not in str(refused.value) and "\\u001b" in str(refused.value)
    with pytest.raises(ListError) as refused:
        read_list(tmp_path, b"\xff\x1b[2J" + b"z" * 500 + b"\n", False)
    assert "\x1b" not in str(refused.value) and len(str(refused.value)) < 300


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_a_utf16_or_utf32_list_is_told_to_be_saved_as_utf8(tmp_path, encoding):
    (tmp_path / "a.png").write_bytes(b"")
    listing = "\ufeffa.png\n".encode(encoding) if not encoding.endswith("-be") else "\ufeffa.png\n".encode(encoding)
    with pytest.raises(ListError, match="UTF-16 or UTF-32.*save it as UTF-8"):
        read_list(tmp_path, listing, False)


@pytest.mark.parametrize("entry", [".", "./", "sub/..", "", "/"])
def test_an_entry_naming_in_itself_says_so(tmp_path, entry):
    (tmp_path / "sub").mkdir()
    if entry in ("", "/"):
        entry = str(tmp_path) + entry
    with pytest.raises(ListError, match="names IN itself"):
        read_list(tmp_path, entry.encode() + b"\n", False)
