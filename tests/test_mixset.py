"""Loading mixing sets from folders: what counts as a picture, and the worker's quick load."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from conftest import photo_like
from ipmix_cli.mixsets.mixing_set import MixingSet


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _folder(tmp_path):
    (tmp_path / "a.png").write_bytes(_png(photo_like(20, 30, 1)))
    (tmp_path / "b.png").write_bytes(_png(photo_like(25, 25, 2)))
    (tmp_path / "metadata.jsonl").write_text('{"not": "a picture"}\n')
    damaged = bytearray(_png(photo_like(20, 20, 3)))
    damaged[60:80] = b"\0" * 20  # header intact, image data corrupt: only a full check notices
    (tmp_path / "c.png").write_bytes(bytes(damaged))
    return tmp_path


def test_a_full_load_skips_non_pictures_and_damaged_pictures(tmp_path):
    mixing = MixingSet.from_folder(_folder(tmp_path))
    assert mixing.names == ["a.png", "b.png"]


def test_the_quick_load_agrees_with_the_full_one_even_when_a_picture_is_damaged(tmp_path):
    folder = _folder(tmp_path)
    full = MixingSet.from_folder(folder)
    quick = MixingSet.from_folder(folder, expected_fingerprint=full.fingerprint)
    assert quick.names == full.names and quick.fingerprint == full.fingerprint
    (folder / "c.png").unlink()
    clean = MixingSet.from_folder(folder, expected_fingerprint=full.fingerprint)
    assert clean.names == full.names and clean.fingerprint == full.fingerprint


def test_scaled_pictures_cover_the_image_and_equal_scaling_the_decoded_array(tmp_path):
    folder = _folder(tmp_path)
    from_files = MixingSet.from_folder(folder)
    from_arrays = MixingSet([from_files.picture(0), from_files.picture(1)], ["a.png", "b.png"])
    for index in (0, 1):
        scaled = from_files.scaled(index, 32, 32)
        assert scaled.shape[0] >= 36 and scaled.shape[1] >= 36 and not scaled.flags.writeable
        assert np.array_equal(scaled, from_arrays.scaled(index, 32, 32))


def test_pictures_are_decoded_at_most_twice_and_kept_decoded_only_when_sizes_vary(tmp_path, monkeypatch):
    from ipmix_cli.mixsets import mixing_set as mixset

    folder = _folder(tmp_path)
    decodes = []
    real_open = mixset._open_rgb
    monkeypatch.setattr(mixset, "_open_rgb", lambda data: decodes.append(data) or real_open(data))
    from_files = MixingSet.from_folder(folder)
    from_arrays = MixingSet([from_files.picture(0), from_files.picture(1)], ["a.png", "b.png"])
    decodes.clear()

    one_size = MixingSet.from_folder(folder)
    for _ in range(3):
        for index in (0, 1):
            one_size.scaled(index, 24, 24)
    assert len(decodes) == 2 and one_size._decoded.bytes == 0  # one decode each, nothing kept decoded

    decodes.clear()
    varied = MixingSet.from_folder(folder)
    for height, width in [(24, 24), (30, 17), (9, 40), (33, 33), (24, 24), (5, 2)]:
        for index in (0, 1):
            scaled = varied.scaled(index, height, width)
            assert np.array_equal(scaled, from_arrays.scaled(index, height, width))
    assert [decodes.count(picture) for picture in varied.pictures] == [2, 2]  # the second decode is kept


def test_the_byte_budget_cache_evicts_least_recently_used_and_counts_each_value_once():
    from ipmix_cli.mixsets.mixing_set import _ByteBudgetCache

    cache = _ByteBudgetCache(budget=10, size_of=len)
    cache.put("a", b"xxxx")
    cache.put("b", b"yyyy")
    cache.put("a", b"zzzz")  # a second thread's copy of a value already cached: ignored, not counted twice
    assert cache.bytes == 8 and cache.get("a") == b"xxxx"  # "a" is now the most recently used
    cache.put("c", b"wwww")
    assert cache.get("b") is None and cache.get("a") == b"xxxx" and cache.bytes == 8
    cache.put("d", b"v" * 50)  # larger than the budget alone: kept, everything older goes
    assert len(cache) == 1 and cache.get("d") and cache.bytes == 50
