"""``ipmix.albumentations``: the transforms as albumentations transforms (issue 22). albumentations is in the
test extra; the tests skip where it is missing."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from conftest import photo_like
from ipmix_cli.mixsets.mixing_set import MixingSet

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # its import would ask PyPI for a newer version
A = pytest.importorskip("albumentations")
from ipmix.albumentations import AugMix, IPMix, PixMix  # noqa: E402


@pytest.fixture(scope="module")
def mixing():
    return MixingSet([photo_like(64, 64, seed=s) for s in range(3)], ["a", "b", "c"])


def test_a_seeded_compose_repeats_itself(mixing):
    def pipeline(seed):
        return A.Compose([A.HorizontalFlip(p=0.5), IPMix(mixing, p=0.7), AugMix(mixture_width=2)], seed=seed)

    image = photo_like(30, 40)
    one, two = pipeline(137), pipeline(137)
    first = [one(image=image)["image"] for _ in range(4)]
    assert all(np.array_equal(a, two(image=image)["image"]) for a in first)
    assert len({out.tobytes() for out in first}) == 4
    assert not np.array_equal(pipeline(138)(image=image)["image"], first[0])


@pytest.mark.parametrize("make", [IPMix, PixMix, AugMix])
def test_images_keep_their_layout_and_other_targets_pass(make, mixing):
    transform = make() if make is AugMix else make(mixing)
    pipeline = A.Compose([transform])
    mask = np.zeros((30, 40), np.uint8)
    for image in (photo_like(30, 40), photo_like(30, 40).astype(np.float32) / 255, photo_like(30, 40)[..., :1]):
        out = pipeline(image=image, mask=mask)
        assert out["image"].shape == image.shape and out["image"].dtype == image.dtype
        assert np.array_equal(out["mask"], mask)


def test_albumentations_p_and_settings(mixing):
    image = photo_like(20, 20)
    assert A.Compose([IPMix(mixing, p=0.0)])(image=image)["image"] is image
    transform = AugMix(mixture_width=3, chain_depth=-1, all_ops=True, severity=2)
    assert transform.plain.configs.overrides["chains"] == 3 and transform.plain.configs.overrides["depth"] is None
    assert repr(transform).startswith("AugMix(p=1.0, preset='auto', severity=2, chains=3, depth=None, ops=")
    clone = pickle.loads(pickle.dumps(A.Compose([IPMix(mixing)], seed=1)))
    assert np.array_equal(clone(image=image)["image"], A.Compose([IPMix(mixing)], seed=1)(image=image)["image"])
    with pytest.raises(ValueError, match="interpolation: not a setting of augmix"):
        AugMix(interpolation=1)


class Repeated:
    """The same image ``count`` times through an albumentations pipeline (a torch Dataset)."""

    def __init__(self, pipeline, count: int):
        self.pipeline, self.count, self.image = pipeline, count, photo_like(16, 16)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return self.pipeline(image=self.image)["image"]


def test_dataloader_workers_do_not_repeat_each_other(mixing):
    torch = pytest.importorskip("torch")
    saved = torch.get_rng_state()
    pipeline = A.Compose([IPMix(mixing)], seed=137)

    def run():
        loader = torch.utils.data.DataLoader(Repeated(pipeline, 8), batch_size=2, num_workers=2)
        return [image.numpy().tobytes() for batch in loader for image in batch]

    try:
        torch.manual_seed(0)
        first = run()
        assert len(set(first)) == 8  # albumentations' own transforms would give 4 here: each worker the same
        torch.manual_seed(0)
        assert run() == first
    finally:
        torch.set_rng_state(saved)
