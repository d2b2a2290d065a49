"""Scoring a model on a corrupted set: a hand-computed example."""

from __future__ import annotations

import math

import pytest

from ipmix_cli.corruptions import CorruptionError
from ipmix_cli.corruptions.scoring import score


def _records(corruption, severity, correct, wrong, label="cat"):
    rows = [{"corruption": corruption, "severity": severity, "label": label, "correct": True}] * correct
    return rows + [{"corruption": corruption, "severity": severity, "label": label, "correct": False}] * wrong


def _model():
    # fog: severity 1 10 % wrong (1 of 10), severity 2 30 % (3 of 10)
    # snow: severity 1 20 % (2 of 10), severity 2 60 % (6 of 10)
    # clean: 5 % (1 of 20); spatter (extra): 50 % at severity 1
    return (
        _records("fog", 1, 9, 1)
        + _records("fog", 2, 7, 3)
        + _records("snow", 1, 8, 2)
        + _records("snow", 2, 4, 6)
        + _records("clean", None, 19, 1)
        + _records("spatter", 1, 1, 1)
    )


def test_unnormalised():
    result = score(_model())
    assert result.errors == {"snow": {1: 0.2, 2: 0.6}, "fog": {1: 0.1, 2: 0.3}, "spatter": {1: 0.5}}
    assert list(result.errors) == ["snow", "fog", "spatter"]  # the benchmark's order
    assert result.counts["fog"] == {1: 10, 2: 10}
    assert result.clean_error == pytest.approx(0.05)
    assert result.corruption_errors["fog"] == pytest.approx(0.2)
    assert result.corruption_errors["snow"] == pytest.approx(0.4)
    assert result.scored == ("snow", "fog")  # the extra corruption is held out of mCE
    assert result.mce == pytest.approx(0.3)
    # relative: fog mean(0.1 - 0.05, 0.3 - 0.05) = 0.15; snow mean(0.15, 0.55) = 0.35
    assert result.relative_mce == pytest.approx(0.25)
    assert not result.normalised


def test_normalised_by_a_baseline():
    baseline = score(
        _records("fog", 1, 6, 4)
        + _records("fog", 2, 2, 8)
        + _records("snow", 1, 5, 5)
        + _records("snow", 2, 0, 10)
        + _records("clean", None, 16, 4)
        + _records("spatter", 1, 0, 2)
    )
    result = score(_model(), baseline=baseline)
    # CE_fog = (0.1 + 0.3) / (0.4 + 0.8) = 1/3; CE_snow = (0.2 + 0.6) / (0.5 + 1.0) = 8/15
    assert result.corruption_errors["fog"] == pytest.approx(1 / 3)
    assert result.corruption_errors["snow"] == pytest.approx(8 / 15)
    assert result.mce == pytest.approx((1 / 3 + 8 / 15) / 2)
    # relative CE_fog = (0.05 + 0.25) / (0.2 + 0.6) = 0.375; snow = (0.15 + 0.55) / (0.3 + 0.8) = 7/11
    assert result.relative_corruption_errors["fog"] == pytest.approx(0.375)
    assert result.relative_mce == pytest.approx((0.375 + 7 / 11) / 2)
    assert result.normalised
    as_table = score(_model(), baseline={"fog": {1: 0.4, 2: 0.8}, "snow": 0.75}, baseline_clean_error=0.2)
    assert as_table.mce == pytest.approx(result.mce)
    assert as_table.relative_mce == pytest.approx(result.relative_mce)


def test_predictions_and_outcomes():
    records = [
        {"corruption": "fog", "severity": 3, "label": "cat"},
        {"corruption": "fog", "severity": 3, "label": "dog"},
    ]
    assert score(records, ["cat", "cat"]).errors == {"fog": {3: 0.5}}
    assert score(records, [True, True]).errors == {"fog": {3: 0.0}}
    predicted = [dict(r, prediction="dog") for r in records]
    assert score(predicted).errors == {"fog": {3: 0.5}}
    assert math.isclose(score(predicted, clean_error=0.1).relative_mce, 0.4)
    with pytest.raises(CorruptionError, match="baseline has no"):
        score(predicted, baseline={"snow": 0.5})
    with pytest.raises(CorruptionError, match="'correct', or 'prediction'"):
        score(records)
    assert score(predicted).to_dict()["errors"] == {"fog": {"3": 0.5}}
