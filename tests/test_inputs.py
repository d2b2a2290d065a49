"""Opening inputs (SPEC §6): only inside IN, never blocking, never a file swapped in during the open."""

from __future__ import annotations

import os

import pytest

from ipmix_cli.disk import inputs
from ipmix_cli.disk.inputs import InputRefused, InputRoot


@pytest.fixture
def tree(tmp_path):
    """IN with two class folders, and a secret beside IN."""
    root = tmp_path / "in"
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for index in range(3):
            (root / label / f"{index}.png").write_bytes(f"{label}{index}".encode())
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.png").write_bytes(b"secret")
    return root


def read(root: InputRoot, name: str) -> bytes:
    with root.open(name) as stream:
        return stream.read()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_plain_names_and_links_inside_in_are_read(tree):
    (tree / "cats" / "alias.png").symlink_to(tree / "dogs" / "1.png")
    (tree / "pets").symlink_to(tree / "dogs")  # a folder link that stays inside IN
    root = InputRoot(tree)
    assert read(root, "cats/0.png") == b"cats0"
    assert read(root, "cats/alias.png") == b"dogs1"
    assert read(root, "pets/2.png") == b"dogs2"


def test_links_that_lead_outside_in_are_refused_with_the_reason(tree):
    (tree / "cats" / "leak.png").symlink_to(tree.parent / "secret" / "key.png")
    (tree / "vault").symlink_to(tree.parent / "secret")
    root = InputRoot(tree)
    for name in ("cats/leak.png", "vault/key.png"):
        with pytest.raises(InputRefused, match="outside IN"):
            read(root, name)


def test_in_given_through_a_link_is_read(tree, tmp_path):
    (tmp_path / "in-link").symlink_to(tree)
    assert read(InputRoot(tmp_path / "in-link"), "dogs/0.png") == b"dogs0"


@pytest.mark.parametrize("name", ["../secret/key.png", "/etc/passwd", "cats/./0.png", ""])
def test_names_that_could_leave_in_are_refused(tree, name):
    with pytest.raises(ValueError):
        read(InputRoot(tree), name)


def test_special_files_and_missing_files_are_refused_not_waited_on(tree):
    os.mkfifo(tree / "cats" / "pipe.png")
    root = InputRoot(tree)
    with pytest.raises(InputRefused, match="FIFO"):
        read(root, "cats/pipe.png")
    with pytest.raises(InputRefused, match="no such file"):
        read(root, "cats/gone.png")
    with pytest.raises(InputRefused, match="folder"):
        read(root, "cats")


def racing(monkeypatch, when_opened):
    """``os.open`` in ``inputs`` that calls ``when_opened(path)`` right after each open: an attacker's moves
    between the open and what follows, replayed deterministically."""
    real_open = os.open

    def racing_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        when_opened(path)
        return fd

    monkeypatch.setattr(inputs.os, "open", racing_open)


def test_a_file_swapped_in_from_outside_and_put_back_during_the_open_is_refused(tree, monkeypatch):
    # the folder leaves IN, the secret takes x's place, the victim opens it, everything is put back before
    # any check could see it: the file read must be the one the path names inside IN, so this is refused
    secret, parked = tree.parent / "secret" / "key.png", tree.parent / "parked"
    (tree / "cats" / "x.png").write_bytes(b"inside x")
    moved = []

    def move_out_and_swap(path):
        if path == "cats" and not moved:
            moved.append(True)
            (tree / "cats").rename(parked)
            (parked / "x.png").rename(tree.parent / "keep")
            secret.rename(parked / "x.png")

    def put_back(path):
        if path == "x.png" and moved:
            (parked / "x.png").rename(secret)
            (tree.parent / "keep").rename(parked / "x.png")
            parked.rename(tree / "cats")

    racing(monkeypatch, lambda path: (move_out_and_swap(path), put_back(path)))
    with pytest.raises(InputRefused, match="moved or replaced while it was opened"):
        read(InputRoot(tree), "cats/x.png")
    assert secret.read_bytes() == b"secret" and (tree / "cats" / "x.png").read_bytes() == b"inside x"
    monkeypatch.undo()
    assert read(InputRoot(tree), "cats/x.png") == b"inside x"  # and read as usual when nothing moves


def test_a_parent_moved_out_behind_a_link_during_the_walk_is_refused(tree, monkeypatch):
    (tree / "deep" / "cats").mkdir(parents=True)
    (tree / "deep" / "cats" / "0.png").write_bytes(b"deep0")
    outside = tree.parent / "secret" / "deep"

    def move_parent_out(path):  # once IN/deep is open, it moves out of IN and a link to it takes its place
        if path == "deep" and not outside.exists():
            (tree / "deep").rename(outside)
            (tree / "deep").symlink_to(outside)

    racing(monkeypatch, move_parent_out)
    with pytest.raises(InputRefused, match="moved or replaced"):
        read(InputRoot(tree), "deep/cats/0.png")


def test_workers_get_in_as_resolved_at_the_start(tree, tmp_path):
    # IN given as a link, retargeted during the run: a worker (which unpickles the reader) must go on reading
    # the folder the run resolved, not the link's new target
    import pickle

    from ipmix_cli.job.readers.folder import FolderReader

    link = tmp_path / "in-link"
    link.symlink_to(tree)
    reader = FolderReader(link)
    (tmp_path / "other" / "cats").mkdir(parents=True)
    (tmp_path / "other" / "cats" / "0.png").write_bytes(b"other")
    link.unlink()
    link.symlink_to(tmp_path / "other")
    worker_side = pickle.loads(pickle.dumps(reader))
    with next(worker_side.inputs([reader_item("cats/0.png")]))[1] as stream:
        assert stream.read() == b"cats0"


def reader_item(key: str):
    from ipmix_cli.job.readers.folder import folder_item

    return folder_item(key)


def test_no_descriptor_is_left_open(tree):
    root = InputRoot(tree)
    before = open_descriptors()
    for name in ("cats/0.png", "cats/gone.png", "cats", "../x"):
        try:
            read(root, name)
        except (InputRefused, ValueError):
            pass
    assert open_descriptors() == before
