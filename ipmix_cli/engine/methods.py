"""The registry of augmentation methods: everything outside the engine knows a method only through it.

A method is a configuration class (presets, validation), a sampler that turns a generator into a JSON plan,
an applier that executes a plan, and an explainer for ``--explain``; plus what the user may set for it and
whether it needs mixing pictures. Every plan names its method, so :func:`apply_plan` replays any trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import augmix, ipmix, pixmix
from .config import AugMixConfig, ConfigError, IPMixConfig, MethodConfig, PixMixConfig
from .plans import Explanation, Plan, check_and_apply, check_plan

#: User settings that go into a method's configuration as they are (field of the same name).
_PLAIN_SETTINGS = ("chains", "depth", "beta", "alpha", "rounds", "severity", "overflow")


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    config: type[MethodConfig]
    uses_mixing: bool
    sample: Callable[[np.random.Generator, int, int, Any], Plan]
    apply: Callable[[np.ndarray, np.ndarray | None, Plan], np.ndarray]  # for arguments already checked
    explain: Callable[[np.ndarray, np.ndarray | None, Plan], Explanation]
    settings: tuple[str, ...]  # what the user may set for it (CLI option names, with _ for -)


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "ipmix",
            "IPMix",
            IPMixConfig,
            True,
            ipmix.sample_plan,
            ipmix.apply_checked,
            ipmix.explain,
            ("mixing_set", "chains", "depth", "beta", "severity", "ops", "all_ops", "patch_sizes", "overflow"),
        ),
        Method(
            "augmix",
            "AugMix",
            AugMixConfig,
            False,
            augmix.sample_plan,
            augmix.apply_checked,
            augmix.explain,
            ("chains", "depth", "alpha", "severity", "ops", "all_ops"),
        ),
        Method(
            "pixmix",
            "PixMix",
            PixMixConfig,
            True,
            pixmix.sample_plan,
            pixmix.apply_checked,
            pixmix.explain,
            ("mixing_set", "rounds", "beta", "severity", "ops", "all_ops"),
        ),
    )
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
_ALL_SETTINGS = tuple(dict.fromkeys(name for method in METHODS.values() for name in method.settings))
_BY_CONFIG = {method.config: method for method in METHODS.values()}


def method_named(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; use one of {', '.join(METHOD_NAMES)}")
    return METHODS[name]


def method_of(config: MethodConfig) -> Method:
    """The method a configuration belongs to."""
    try:
        return _BY_CONFIG[type(config)]
    except KeyError:
        raise TypeError(f"not a method's configuration: {type(config).__name__}") from None


def sample_plan(rng: np.random.Generator, height: int, width: int, config: MethodConfig) -> Plan:
    """The plan of one output of an ``height``×``width`` image, for the method ``config`` belongs to."""
    return method_of(config).sample(rng, height, width, config)


def plan_method(plan: Plan) -> Method:
    """The method that sampled ``plan`` (traces of ipmix 0.2, which did not say, are IPMix's)."""
    return method_named(plan.get("method", "ipmix"))


def apply_plan(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """Apply any method's plan to ``image`` with mixing picture ``mixing`` (None for AugMix); inputs untouched."""
    check_plan(plan)
    return check_and_apply(image, mixing, plan, plan_method(plan).apply)


def _flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")


def _given(settings: Mapping[str, Any], name: str) -> bool:
    value = settings.get(name)
    return value is not None and value is not False and value != ()


def check_settings(settings: Mapping[str, Any]) -> Method:
    """The method ``settings["method"]`` names (IPMix by default), after checking that every engine setting
    given applies to it: e.g. ``--patch-sizes`` with ``--method augmix`` is an error naming both."""
    method = method_named(settings.get("method") or "ipmix")
    foreign = [name for name in _ALL_SETTINGS if _given(settings, name) and name not in method.settings]
    if foreign:
        names = ", ".join(_flag(name) for name in foreign)
        verb = "does" if len(foreign) == 1 else "do"
        takes = ", ".join(_flag(name) for name in method.settings)
        raise ConfigError(f"{names} {verb} not apply to --method {method.name}; {method.title} takes --preset, {takes}")
    return method


def engine_overrides(settings: Mapping[str, Any]) -> dict:
    """The configuration overrides the user's settings give for their method, checked against it (a
    :class:`ConfigError` says what is wrong). ``--all-ops`` selects the method's full list, and
    ``--patch-sizes`` absolute sizes."""
    method = check_settings(settings)
    overrides = {name: settings[name] for name in _PLAIN_SETTINGS if _given(settings, name)}
    if _given(settings, "all_ops") and _given(settings, "ops"):
        raise ConfigError("--ops and --all-ops contradict each other; give one")
    if _given(settings, "all_ops"):
        overrides["ops"] = method.config.ALL_OPS
    elif _given(settings, "ops"):
        overrides["ops"] = tuple(settings["ops"])
    if _given(settings, "patch_sizes"):
        overrides["patch_sizes"] = tuple(settings["patch_sizes"])
        overrides["reference_side"] = None
    for variant in ("cifar", "imagenet"):
        method.config.for_image(variant, 1, 1, **overrides)  # raises ConfigError for a bad value
    return overrides
