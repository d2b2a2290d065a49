"""One table of corruptions: name → (group, sample, apply), and the named selections.

``sample(rng, setting[, pictures]) -> draws`` makes every random draw of one output and returns them as a small
JSON-serialisable dict (large fields as an integer sub-seed); ``apply(image, setting, draws[, pictures])`` is
deterministic. The names are the reference's function names and the folder names of ImageNet-C.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import blur, digital, noise, spatter, weather
from .params import CorruptionError


@dataclass(frozen=True)
class Corruption:
    name: str
    group: str  # noise, blur, weather or digital, as the benchmark groups them
    extra: bool  # one of the four held-out corruptions (not in mCE)
    sample: Callable
    apply: Callable
    needs_frost: bool = False


def _entry(name, group, sample, apply, extra=False, needs_frost=False):
    return name, Corruption(name, group, extra, sample, apply, needs_frost)


CORRUPTIONS = dict(
    [
        _entry("gaussian_noise", "noise", noise.sample_seed, noise.gaussian_noise),
        _entry("shot_noise", "noise", noise.sample_seed, noise.shot_noise),
        _entry("impulse_noise", "noise", noise.sample_seed, noise.impulse_noise),
        _entry("defocus_blur", "blur", blur.no_draws, blur.defocus_blur),
        _entry("glass_blur", "blur", noise.sample_seed, blur.glass_blur),
        _entry("motion_blur", "blur", blur.sample_motion, blur.motion_blur),
        _entry("zoom_blur", "blur", blur.no_draws, blur.zoom_blur),
        _entry("snow", "weather", weather.sample_snow, weather.snow),
        _entry("frost", "weather", weather.sample_frost, weather.frost, needs_frost=True),
        _entry("fog", "weather", weather.sample_fog, weather.fog),
        _entry("brightness", "weather", blur.no_draws, digital.brightness),
        _entry("contrast", "digital", blur.no_draws, digital.contrast),
        _entry("elastic_transform", "digital", digital.sample_elastic, digital.elastic_transform),
        _entry("pixelate", "digital", blur.no_draws, digital.pixelate),
        _entry("jpeg_compression", "digital", blur.no_draws, digital.jpeg_compression),
        _entry("speckle_noise", "noise", noise.sample_seed, noise.speckle_noise, extra=True),
        _entry("gaussian_blur", "blur", blur.no_draws, blur.gaussian_blur, extra=True),
        _entry("spatter", "weather", spatter.sample_spatter, spatter.spatter, extra=True),
        _entry("saturate", "digital", blur.no_draws, digital.saturate, extra=True),
    ]
)

COMMON = tuple(name for name, entry in CORRUPTIONS.items() if not entry.extra)
EXTRA = tuple(name for name, entry in CORRUPTIONS.items() if entry.extra)
ALL = COMMON + EXTRA
GROUPS = {"common": COMMON, "extra": EXTRA, "all": ALL}


def get(name: str) -> Corruption:
    try:
        return CORRUPTIONS[name]
    except KeyError:
        raise CorruptionError(f"unknown corruption {name!r}; the corruptions are {', '.join(ALL)}") from None


def select(spec: str) -> tuple[str, ...]:
    """``common``, ``extra``, ``all`` or a comma-separated list of names, in the benchmark's order, no repeats."""
    spec = spec.strip()
    if spec in GROUPS:
        return GROUPS[spec]
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise CorruptionError("no corruption named; use common, extra, all or a list of names")
    for name in names:
        get(name)
    chosen = set(names)
    return tuple(name for name in ALL if name in chosen)


def parse_severities(spec: str) -> tuple[int, ...]:
    """``1-5``, ``3`` or ``1,3,5`` (ranges allowed in a list), sorted, no repeats."""
    chosen: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                chosen.update(range(low, high + 1))
            else:
                chosen.add(int(part))
        except ValueError:
            raise CorruptionError(f"severities: {spec!r} is not like 1-5 or 1,3,5") from None
    if not chosen or min(chosen) < 1 or max(chosen) > 5:
        raise CorruptionError(f"severities: {spec!r}: each must be from 1 to 5")
    return tuple(sorted(chosen))
