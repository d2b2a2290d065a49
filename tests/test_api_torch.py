"""The transforms with torch (SPEC §5, issue 22): C×H×W tensors in and out, torch's generator as the source of
randomness, DataLoader workers. Skipped where torch is not installed (CI installs the CPU wheel when this
machine has it: .ci/run)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import ipmix
from conftest import photo_like
from ipmix_cli.mixsets.mixing_set import MixingSet

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def mixing():
    return MixingSet([photo_like(64, 64, seed=s) for s in range(3)], ["a", "b", "c"])


@pytest.fixture
def torch_state():
    """torch's global generator is the user's: a test that seeds it puts it back."""
    saved = torch.get_rng_state()
    yield
    torch.set_rng_state(saved)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def chw(height: int = 21, width: int = 34, channels: int = 3, seed: int = 0):
    pixels = photo_like(height, width, seed)
    if channels in (2, 4):
        pixels = np.concatenate([pixels[..., : channels - 1], photo_like(height, width, seed + 7)[..., :1]], axis=2)
    else:
        pixels = pixels[..., :channels]
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64", "float16", "bfloat16"])
def test_tensors_come_back_with_their_shape_dtype_and_class(mixing, channels, dtype):
    dtype = getattr(torch, dtype)
    as_bytes = chw(channels=channels)
    image = as_bytes if dtype == torch.uint8 else as_bytes.to(dtype).mul_(1 / 255)
    before = image.clone()
    out = ipmix.IPMix(mixing)(image, rng=rng(3))
    assert type(out) is torch.Tensor and out.shape == image.shape and out.dtype == dtype and out.device == image.device
    assert torch.equal(image, before)
    expected = ipmix.IPMix(mixing)(as_bytes, rng=rng(3))
    if dtype != torch.uint8:  # the uint8 result, as v2.ToDtype(dtype, scale=True) turns it into floats
        expected = expected.to(dtype).mul_(1 / 255)
    assert torch.equal(out, expected)
    # and the bytes are those of the H×W×C array
    hwc = ipmix.IPMix(mixing)(as_bytes.permute(1, 2, 0).numpy(), rng=rng(3))
    assert np.array_equal(ipmix.IPMix(mixing)(as_bytes, rng=rng(3)).permute(1, 2, 0).numpy(), hwc)


def test_grey_hw_tensors_non_contiguous_and_grad_tensors(mixing):
    grey = chw(channels=1)[0]
    assert ipmix.IPMix(mixing)(grey, rng=rng()).shape == grey.shape
    wide = chw(30, 40).float().div(255)
    view = wide[:, ::2, 1:]  # a strided view
    out = ipmix.IPMix(mixing)(view, rng=rng(1))
    assert out.shape == view.shape and torch.equal(out, ipmix.IPMix(mixing)(view.contiguous(), rng=rng(1)))
    leaf = wide.clone().requires_grad_(True)
    assert not ipmix.IPMix(mixing)(leaf, rng=rng()).requires_grad


@pytest.mark.parametrize(
    "image, message",
    [
        (torch.zeros(21, 34, 3, dtype=torch.uint8), "\\(an H×W×C tensor\\? use tensor.permute\\(2, 0, 1\\)\\)"),
        (torch.zeros(2, 3, 8, 8), "got shape \\(2, 3, 8, 8\\)"),
        (
            torch.zeros(3, 8, 8, dtype=torch.int64),
            "tensors must be uint8, or floating point in \\[0, 1\\]; got torch.int64",
        ),
        (torch.full((3, 8, 8), -1.8), "values in \\[0, 1\\], got -1.8 to -1.8 \\(augment before Normalize"),
    ],
)
def test_tensors_it_cannot_take_are_refused_with_the_fix(image, message):
    with pytest.raises(ValueError, match=message):
        ipmix.AugMix()(image)


def test_p0_returns_the_tensor_itself(torch_state):
    image = chw()
    state = torch.get_rng_state()
    assert ipmix.AugMix(p=0)(image) is image
    assert torch.equal(torch.get_rng_state(), state)


def test_torch_manual_seed_makes_a_pipeline_repeatable(mixing, torch_state):
    transform = ipmix.IPMix(mixing, p=0.8)
    images = [chw(), photo_like(20, 30), chw(40, 25).float().div(255)]

    def run():
        return [transform(image) for image in images for _ in range(3)]

    torch.manual_seed(0)
    first = run()
    torch.manual_seed(0)
    again = run()
    assert all(_equal(a, b) for a, b in zip(first, again))
    torch.manual_seed(1)
    assert not all(_equal(a, b) for a, b in zip(first, run()))
    assert len({_bytes(out) for out in first[:3]}) == 3  # calls differ from each other
    # one draw from torch's generator per call: it is the user's stream that advances
    torch.manual_seed(0)
    transform(images[0])
    after_one = torch.rand(1)
    torch.manual_seed(0)
    torch.randint(0, 1 << 62, (2,), dtype=torch.int64)
    assert torch.equal(after_one, torch.rand(1))


def test_seed_wins_over_torchs_generator(mixing, torch_state):
    image = chw()
    torch.manual_seed(0)
    first = [ipmix.IPMix(mixing, seed=5)(image) for _ in range(2)]
    torch.manual_seed(1)
    assert all(torch.equal(out, ipmix.IPMix(mixing, seed=5)(image)) for out in first)
    assert torch.equal(ipmix.IPMix(mixing, seed=5)(image, rng=rng(2)), ipmix.IPMix(mixing)(image, rng=rng(2)))


class Repeated(torch.utils.data.Dataset):
    """The same image ``count`` times, augmented by ``transform``: every difference comes from randomness."""

    def __init__(self, transform, count: int):
        self.transform, self.count, self.image = transform, count, chw(16, 16)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return self.transform(self.image)


def loaded(transform, workers: int, count: int = 8) -> list[bytes]:
    loader = torch.utils.data.DataLoader(Repeated(transform, count), batch_size=2, num_workers=workers)
    return [image.numpy().tobytes() for batch in loader for image in batch]


@pytest.mark.parametrize("seed", [None, 4])
def test_dataloader_workers_are_distinct_and_repeatable(mixing, torch_state, seed):
    transform = ipmix.IPMix(mixing, seed=seed)
    torch.manual_seed(0)
    first = loaded(transform, workers=2)
    assert len(set(first)) == len(first)  # no worker repeats another's augmentations
    torch.manual_seed(0)
    assert loaded(transform, workers=2) == first  # DataLoader seeds its workers from torch's generator
    torch.manual_seed(0)
    second_epoch = (loaded(transform, workers=2), loaded(transform, workers=2))[1]
    assert not set(second_epoch) & set(first)  # a new epoch's workers do not repeat the last one's


def test_a_transform_crosses_to_a_worker_as_a_pickle(mixing, torch_state):
    transform = ipmix.IPMix(mixing, p=0.5, seed=2)
    clone = pickle.loads(pickle.dumps(transform))
    assert all(torch.equal(transform(chw()), clone(chw())) for _ in range(3))


def _equal(a, b) -> bool:
    return _bytes(a) == _bytes(b)


def _bytes(image) -> bytes:
    return image.numpy().tobytes() if isinstance(image, torch.Tensor) else np.asarray(image).tobytes()
