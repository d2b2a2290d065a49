"""Opening inputs (SPEC §6): only inside IN, never blocking, never a file swapped in during the open."""

from __future__ import annotations

import os

import pytest

from ipmix_cli.disk import beneath, inputs
from ipmix_cli.disk.inputs import InputRefused, InputRoot

KERNEL_WALK = beneath.OPENAT2
REAL_OPEN = os.open


@pytest.fixture(autouse=True, params=["openat2", "components"])
def walk(request, monkeypatch):
    """Every test runs with both ways of opening: ``openat2`` in one kernel walk, and the walk one component at
    a time that systems without it use."""
    if request.param == "components":
        monkeypatch.setattr(beneath, "OPENAT2", None)
    elif KERNEL_WALK is None:
        pytest.skip("this system has no openat2 (Linux >= 5.6)")
    return request.param


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
        when_opened(os.fsdecode(path))  # inputs are opened by their names' bytes (items.name_bytes)
        return fd

    monkeypatch.setattr(inputs.os, "open", racing_open)


def test_a_file_swapped_in_from_outside_and_put_back_during_the_open_is_refused(tree, monkeypatch, walk):
    if walk == "openat2":
        pytest.skip("the kernel walks the path in one call: there is no moment between components to replay")
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
    monkeypatch.setattr(inputs.os, "open", REAL_OPEN)
    assert read(InputRoot(tree), "cats/x.png") == b"inside x"  # and read as usual when nothing moves


def test_a_parent_moved_out_behind_a_link_during_the_walk_is_refused(tree, monkeypatch, walk):
    if walk == "openat2":
        pytest.skip("the kernel walks the path in one call: there is no moment between components to replay")
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

    from ipmix_cli.readers.folder import FolderReader

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
    from ipmix_cli.readers.folder import folder_item

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


def raced_kernel_walk(monkeypatch, secret, then):
    """``openat2`` whose first call returns ``secret`` opened, as if the kernel's walk had raced a folder moved
    out of IN with the secret swapped in; ``then()`` runs before the check that follows."""
    calls = []

    def openat2(folder, path, flags, resolve):
        calls.append(os.fsdecode(path))  # opened by its bytes (items.name_bytes)
        if len(calls) == 1:
            fd = REAL_OPEN(secret, os.O_RDONLY | os.O_CLOEXEC)
            then()
            return fd
        return KERNEL_WALK(folder, path, flags, resolve)

    monkeypatch.setattr(beneath, "OPENAT2", openat2)
    return calls


def test_the_check_after_a_kernel_walk_refuses_a_file_its_path_does_not_name(tree, monkeypatch, walk):
    if walk != "openat2":
        pytest.skip("the kernel walk's check")
    calls = raced_kernel_walk(monkeypatch, tree.parent / "secret" / "key.png", lambda: None)
    with pytest.raises(InputRefused, match="moved or replaced while it was opened"):
        read(InputRoot(tree), "cats/0.png")
    assert calls == ["cats/0.png", "cats/0.png"]


def test_the_check_follows_no_link_even_to_the_same_file(tree, monkeypatch, walk):
    # the helper's attack on the component check: IN/deep becomes a link to where the real folder now is,
    # outside IN, so a lookup that follows links finds the very file that was opened; openat2 follows none
    if walk != "openat2":
        pytest.skip("the kernel walk's check")
    (tree / "deep" / "n").mkdir(parents=True)
    (tree / "deep" / "n" / "x.png").write_bytes(b"deep x")
    outside = tree.parent / "secret" / "deep"

    def move_out_behind_a_link():
        (tree / "deep").rename(outside)
        (tree / "deep").symlink_to(outside)

    raced_kernel_walk(monkeypatch, tree / "deep" / "n" / "x.png", move_out_behind_a_link)
    with pytest.raises(InputRefused, match="moved or replaced while it was opened"):
        read(InputRoot(tree), "deep/n/x.png")


def test_a_link_that_changes_while_it_is_resolved_is_that_inputs_failure(tree, monkeypatch):
    (tree / "cats" / "alias.png").symlink_to(tree / "dogs" / "1.png")

    def failing_realpath(path):
        raise OSError(22, "Invalid argument", str(path))

    monkeypatch.setattr(inputs.os.path, "realpath", failing_realpath)
    with pytest.raises(InputRefused, match="its path changed while it was resolved"):
        read(root_without_realpath(tree), "cats/alias.png")


def root_without_realpath(tree):
    """An InputRoot made without calling realpath (the test replaces it with one that fails)."""
    root = InputRoot.__new__(InputRoot)
    root.given, root.path = tree, tree
    return root
