"""``ipmix.torchvision``: the transforms as torchvision v2 transforms (issue 22). Skipped where torchvision is not
installed, which includes CI (a torchvision build is gigabytes); run it in a scratch environment with
``pip install torch==2.14.1 torchvision==0.29.1`` (docs/python-api.md, "Testing the adapters")."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

import ipmix
from conftest import photo_like
from ipmix_cli.mixsets.mixing_set import MixingSet

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from torchvision import tv_tensors  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

from ipmix.torchvision import AugMix as AugMixV2  # noqa: E402
from ipmix.torchvision import IPMix as IPMixV2  # noqa: E402
from ipmix.torchvision import PixMix as PixMixV2  # noqa: E402


@pytest.fixture(scope="module")
def mixing():
    return MixingSet([photo_like(64, 64, seed=s) for s in range(3)], ["a", "b", "c"])


@pytest.fixture
def torch_state():
    saved = torch.get_rng_state()
    yield
    torch.set_rng_state(saved)


def test_inside_v2_compose_after_to_image(mixing, torch_state):
    pipeline = v2.Compose([v2.ToImage(), IPMixV2(mixing, p=1.0), v2.ToDtype(torch.float32, scale=True)])
    for height, width in ((21, 34), (48, 30), (90, 90)):
        image = Image.fromarray(photo_like(height, width))
        torch.manual_seed(0)
        out = pipeline(image)
        assert isinstance(out, tv_tensors.Image) and out.dtype == torch.float32 and out.shape == (3, height, width)
        torch.manual_seed(0)  # the same draw from torch's generator, through the plain transform
        seed = np.random.SeedSequence(torch.randint(0, 1 << 62, (2,), dtype=torch.int64).tolist())
        expected = ipmix.IPMix(mixing)(np.asarray(image), rng=np.random.Generator(np.random.PCG64(seed)))
        assert torch.equal(out, torch.from_numpy(expected).permute(2, 0, 1).to(torch.float32).mul_(1 / 255))


@pytest.mark.parametrize("make", [IPMixV2, PixMixV2])
def test_each_type_comes_back_as_itself(make, mixing):
    transform = make(mixing)
    pixels = photo_like(20, 24)
    image = tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1))
    assert type(transform(image)) is tv_tensors.Image
    floats = tv_tensors.Image(image.float() / 255)
    assert type(transform(floats)) is tv_tensors.Image and transform(floats).dtype == torch.float32
    plain = torch.from_numpy(pixels).permute(2, 0, 1)
    assert type(transform(plain)) is torch.Tensor
    assert isinstance(transform(Image.fromarray(pixels)), Image.Image)


def test_labels_pass_and_boxes_masks_videos_are_refused(mixing):
    transform = AugMixV2(mixture_width=2, chain_depth=-1, severity=3, alpha=1.0, all_ops=True)
    image = tv_tensors.Image(torch.from_numpy(photo_like(20, 20)).permute(2, 0, 1))
    out, label, extra = transform(image, 3, {"name": "x", "weights": torch.ones(4)})
    assert type(out) is tv_tensors.Image and label == 3 and extra["name"] == "x"
    assert torch.equal(extra["weights"], torch.ones(4))  # a second plain tensor passes (torchvision's rule)
    boxes = tv_tensors.BoundingBoxes([[0, 0, 5, 5]], format="XYXY", canvas_size=(20, 20))
    for target in (boxes, tv_tensors.Mask(torch.zeros(20, 20)), tv_tensors.Video(torch.zeros(2, 3, 20, 20))):
        with pytest.raises(TypeError, match=f"does not transform {type(target).__name__}"):
            transform(image, target)


def test_p_seed_and_pickling(mixing, torch_state):
    image = tv_tensors.Image(torch.from_numpy(photo_like(20, 20)).permute(2, 0, 1))
    state = torch.get_rng_state()
    assert IPMixV2(mixing, p=0)(image) is image
    assert torch.equal(torch.get_rng_state(), state)  # p=0 draws nothing
    seeded = IPMixV2(mixing, p=0.5, seed=3)
    clone = pickle.loads(pickle.dumps(seeded))
    torch.manual_seed(1)
    first = [seeded(image) for _ in range(6)]
    torch.manual_seed(2)
    assert all(torch.equal(a, clone(image)) for a in first)  # seed= ignores torch's generator
    assert any(a is image for a in first) and any(a is not image for a in first)
    assert repr(seeded) == "IPMix(mixing_set=None, preset='auto', p=0.5, seed=3)"


def test_a_batch_of_mixed_sizes_stacks_after_a_random_resized_crop(mixing, torch_state):
    pipeline = v2.Compose(
        [v2.ToImage(), v2.RandomResizedCrop(32, antialias=True), IPMixV2(mixing), v2.ToDtype(torch.float32, scale=True)]
    )
    images = [Image.fromarray(photo_like(h, w, h)) for h, w in ((20, 50), (64, 33), (40, 40))]
    batch = torch.stack([pipeline(image) for image in images])
    assert batch.shape == (3, 3, 32, 32)
