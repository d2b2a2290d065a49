"""Scoring a model on a corrupted set: error per corruption and severity, corruption errors, mCE.

The benchmark's measures (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019), with ``E[c][s]`` the error rate on corruption ``c`` at severity
``s`` and ``E_clean`` the error on the clean images:

- corruption error ``CE_c = Σ_s E[c][s] / Σ_s B[c][s]``, normalised by a baseline model's errors ``B`` (the
  benchmark uses AlexNet's on ImageNet-C; on your own data, train a reference model and score it first);
- ``mCE`` = the mean of ``CE_c`` over the corruptions scored;
- relative ``CE_c = Σ_s (E[c][s] - E_clean) / Σ_s (B[c][s] - B_clean)`` and relative mCE, their mean: how much
  accuracy is lost to the corruption, compared with how much the baseline loses.

Without a baseline, ``CE_c`` is the unnormalised mean error over the severities (what CIFAR-10-C results,
IPMix's among them, report as "mCE"), and the relative one ``mean_s(E[c][s] - E_clean)``. ``mCE`` averages the
common corruptions present (the four extra ones are held out, as in the benchmark) unless ``corruptions``
names others.

The input is one result per corrupted output, keyed by its manifest record (``corruption``, ``severity``,
``label``, …): a mapping with ``correct`` (bool), or with ``prediction`` compared with the record's ``label``;
or the records and a parallel sequence of correctness or predictions. Records whose ``corruption`` is
``clean`` (or None) give the clean error.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .params import CorruptionError
from .registry import ALL, COMMON

CLEAN = "clean"


@dataclass(frozen=True)
class CorruptionScores:
    """What :func:`score` returns. Error rates are fractions in [0, 1]."""

    errors: dict  # corruption -> {severity: error rate}
    counts: dict  # corruption -> {severity: number of outputs}
    corruption_errors: dict  # corruption -> CE (normalised when a baseline was given)
    mce: float | None  # the mean of corruption_errors over ``scored``
    relative_corruption_errors: dict | None  # corruption -> relative CE, when clean errors are known
    relative_mce: float | None
    clean_error: float | None
    scored: tuple  # the corruptions averaged into mCE
    normalised: bool  # whether CE and mCE are normalised by a baseline

    def mean_error(self, corruption: str) -> float:
        """The mean error over the severities of one corruption (unnormalised)."""
        by_severity = self.errors[corruption]
        return sum(by_severity.values()) / len(by_severity)

    def to_dict(self) -> dict:
        return {
            "errors": {c: {str(s): e for s, e in v.items()} for c, v in self.errors.items()},
            "counts": {c: {str(s): n for s, n in v.items()} for c, v in self.counts.items()},
            "corruption_errors": dict(self.corruption_errors),
            "mce": self.mce,
            "relative_corruption_errors": self.relative_corruption_errors,
            "relative_mce": self.relative_mce,
            "clean_error": self.clean_error,
            "scored": list(self.scored),
            "normalised": self.normalised,
        }


def score(
    results: Iterable[Mapping[str, Any]],
    outcomes: Sequence[Any] | None = None,
    *,
    baseline: CorruptionScores | Mapping[str, Any] | None = None,
    clean_error: float | None = None,
    baseline_clean_error: float | None = None,
    corruptions: Iterable[str] | None = None,
) -> CorruptionScores:
    """Error per corruption and severity, corruption errors, mCE and relative mCE (see the module docstring).

    ``results``: manifest records, each with ``correct`` or ``prediction`` (and ``label``) unless
    ``outcomes`` gives, in the same order, one bool (correct) or one prediction per record.
    ``baseline``: another :class:`CorruptionScores`, or a mapping corruption → {severity: error} (or
    corruption → mean error over the same severities). ``clean_error`` / ``baseline_clean_error`` override
    the clean errors found in the results / the baseline.
    """
    wrong: dict = defaultdict(lambda: defaultdict(int))
    total: dict = defaultdict(lambda: defaultdict(int))
    clean_wrong = clean_total = 0
    records = list(results)
    if outcomes is not None and len(outcomes) != len(records):
        raise CorruptionError(f"{len(outcomes)} outcomes for {len(records)} records")
    for index, record in enumerate(records):
        correct = _correct(record, None if outcomes is None else outcomes[index])
        corruption = record.get("corruption")
        if corruption in (None, CLEAN):
            clean_total += 1
            clean_wrong += not correct
            continue
        severity = int(record["severity"])
        total[corruption][severity] += 1
        wrong[corruption][severity] += not correct
    if not total:
        raise CorruptionError("no corrupted outputs among the results")
    errors = {c: {s: wrong[c][s] / total[c][s] for s in sorted(total[c])} for c in sorted(total, key=_benchmark_order)}
    counts = {c: dict(sorted(total[c].items())) for c in errors}
    if clean_error is None and clean_total:
        clean_error = clean_wrong / clean_total

    scored = _scored(errors, corruptions)
    base_errors, base_clean = _baseline(baseline, baseline_clean_error)
    if base_errors is None:
        ce = {c: _mean(errors[c].values()) for c in errors}
        relative = None if clean_error is None else {c: _mean(errors[c].values()) - clean_error for c in errors}
    else:
        ce, relative = {}, ({} if clean_error is not None and base_clean is not None else None)
        for c in errors:
            if c not in base_errors:
                continue
            ours, theirs = _aligned(c, errors[c], base_errors[c])
            ce[c] = sum(ours) / sum(theirs)
            if relative is not None:
                lost = sum(e - base_clean for e in theirs)
                relative[c] = sum(e - clean_error for e in ours) / lost if lost else float("nan")
        missing = [c for c in scored if c not in ce]
        if missing:
            raise CorruptionError(f"the baseline has no errors for {', '.join(missing)}")
    mce = _mean(ce[c] for c in scored)
    relative_mce = None if relative is None else _mean(relative[c] for c in scored)
    return CorruptionScores(
        errors, counts, ce, mce, relative, relative_mce, clean_error, scored, base_errors is not None
    )


def _correct(record: Mapping[str, Any], outcome: Any) -> bool:
    if outcome is not None:
        if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
            return bool(outcome)
        return outcome == record.get("label")
    if "correct" in record:
        return bool(record["correct"])
    if "prediction" in record:
        return record["prediction"] == record.get("label")
    raise CorruptionError("each result needs 'correct', or 'prediction' and 'label'")


def _benchmark_order(name: str):
    return (ALL.index(name), name) if name in ALL else (len(ALL), name)


def _scored(errors: dict, corruptions) -> tuple:
    if corruptions is not None:
        chosen = tuple(corruptions)
        missing = [c for c in chosen if c not in errors]
        if missing:
            raise CorruptionError(f"no results for {', '.join(missing)}")
        return chosen
    common = tuple(c for c in errors if c in COMMON)
    return common or tuple(errors)


def _baseline(baseline, clean) -> tuple[dict | None, float | None]:
    if baseline is None:
        return None, clean
    if isinstance(baseline, CorruptionScores):
        return baseline.errors, clean if clean is not None else baseline.clean_error
    table = {}
    for corruption, value in baseline.items():
        table[corruption] = {int(s): float(e) for s, e in value.items()} if isinstance(value, Mapping) else value
    return table, clean


def _aligned(corruption: str, ours: dict, theirs) -> tuple[list, list]:
    if not isinstance(theirs, Mapping):  # one mean over the same severities
        mean = float(theirs)
        return list(ours.values()), [mean] * len(ours)
    missing = [s for s in ours if s not in theirs]
    if missing:
        raise CorruptionError(f"the baseline has no {corruption} errors at severity {', '.join(map(str, missing))}")
    return [ours[s] for s in ours], [theirs[s] for s in ours]


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")
