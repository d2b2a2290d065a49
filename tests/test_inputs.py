"""Opening inputs (SPEC §6): only inside IN, never blocking, folders reached once per batch."""

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


def read(root: InputRoot, name: str, held: dict | None = None) -> bytes:
    with root.open(name, held) as stream:
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
        with root.held_folders() as held:  # the same through held folders
            with pytest.raises(InputRefused, match="outside IN"):
                read(root, name, held)


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


def test_a_batch_reaches_each_folder_once_and_closes_it_afterwards(tree, monkeypatch):
    folder_opens = []
    real_open = os.open

    def counting_open(path, flags, *args, **kwargs):
        if flags & os.O_DIRECTORY:
            folder_opens.append(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(inputs.os, "open", counting_open)
    root = InputRoot(tree)
    before = open_descriptors()
    with root.held_folders() as held:
        contents = [read(root, f"{label}/{index}.png", held) for label in ("cats", "dogs") for index in range(3)]
        assert open_descriptors() == before + 2  # cats and dogs held
    assert contents == [f"{label}{index}".encode() for label in ("cats", "dogs") for index in range(3)]
    assert len(folder_opens) == 4  # IN and cats, IN and dogs: not twice per input
    assert open_descriptors() == before
    folder_opens.clear()
    read(root, "cats/0.png")  # outside a batch nothing is held
    assert len(folder_opens) == 2 and open_descriptors() == before


def test_a_held_folder_removed_and_made_again_is_reached_anew(tree):
    root = InputRoot(tree)
    with root.held_folders() as held:
        assert read(root, "cats/0.png", held) == b"cats0"
        (tree / "cats").rename(tree.parent / "old-cats")
        (tree / "cats").mkdir()
        (tree / "cats" / "1.png").write_bytes(b"new cats1")
        assert read(root, "cats/1.png", held) == b"new cats1"


def test_at_most_a_bounded_number_of_folders_is_held(tree, monkeypatch):
    monkeypatch.setattr(inputs, "_HELD_FOLDERS", 3)
    for index in range(6):
        (tree / f"f{index}").mkdir()
        (tree / f"f{index}" / "x.png").write_bytes(str(index).encode())
    root = InputRoot(tree)
    before = open_descriptors()
    with root.held_folders() as held:
        assert [read(root, f"f{index}/x.png", held) for index in range(6)] == [str(i).encode() for i in range(6)]
        assert len(held) == 3 and open_descriptors() == before + 3
    assert open_descriptors() == before


def test_a_held_folder_moved_out_of_in_and_replaced_by_a_link_is_not_read_from(tree):
    root = InputRoot(tree)
    with root.held_folders() as held:
        assert read(root, "cats/0.png", held) == b"cats0"
        (tree / "cats").rename(tree.parent / "moved-out")
        (tree / "cats").symlink_to(tree.parent / "secret")
        (tree.parent / "secret" / "1.png").write_bytes(b"secret1")
        with pytest.raises(InputRefused, match="outside IN"):
            read(root, "cats/1.png", held)  # neither the moved folder's 1.png nor the link's target
        (tree / "cats").unlink()
        with pytest.raises(InputRefused, match="no such file"):
            read(root, "cats/2.png", held)


def test_a_nested_held_folder_whose_parent_moved_out_behind_a_link_is_not_read_from(tree):
    # IN/deep/cats is held; its parent moves out of IN and a link to the new place takes its name: the path
    # IN/deep/cats then leads to the very folder that is held, now outside IN
    (tree / "deep" / "cats").mkdir(parents=True)
    for index in range(2):
        (tree / "deep" / "cats" / f"{index}.png").write_bytes(f"deep{index}".encode())
    root = InputRoot(tree)
    with root.held_folders() as held:
        assert read(root, "deep/cats/0.png", held) == b"deep0"
        (tree / "deep").rename(tree.parent / "secret" / "deep")
        (tree / "deep").symlink_to(tree.parent / "secret" / "deep")
        with pytest.raises(InputRefused, match="outside IN"):
            read(root, "deep/cats/1.png", held)


def test_in_moved_away_during_a_batch_is_not_read_from(tree, tmp_path):
    root = InputRoot(tree)
    with root.held_folders() as held:
        assert read(root, "cats/0.png", held) == b"cats0"
        tree.rename(tmp_path / "elsewhere")
        with pytest.raises(InputRefused, match="no such file"):
            read(root, "cats/1.png", held)
