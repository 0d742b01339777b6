"""Percentile calibration -> buckets 0-19 -> max over classifiers -> tiers."""

from __future__ import annotations

import numpy as np
import pytest

from corpusforge.classifiers.ensemble import (
    NEMOTRON_CC_TIER_CUTS,
    Calibration,
    calibrate,
    check_tier_cuts,
    ensemble_buckets,
    tier_of,
)


def test_uniform_scores_fill_twenty_equal_buckets():
    rng = np.random.default_rng(0)
    scores = rng.random(20_000)
    cal = calibrate(scores)
    counts = np.bincount(cal.bucket(scores), minlength=20)
    assert len(counts) == 20 and counts.min() > 900 and counts.max() < 1100


def test_buckets_are_monotone_and_bounded():
    cal = calibrate(np.linspace(0, 1, 1000))
    b = cal.bucket(np.array([-5.0, 0.0, 0.3, 0.6, 1.0, 7.0]))
    assert b[0] == 0 and b[-1] == 19 and np.all(np.diff(b) >= 0)


def test_length_weighting_moves_thresholds_towards_long_documents():
    scores = np.array([0.1] * 50 + [0.9] * 50)
    lengths = np.array([10] * 50 + [1000] * 50)  # the high scores carry ~99% of the bytes
    assert calibrate(scores, lengths).thresholds[0] == pytest.approx(0.9)
    assert calibrate(scores).thresholds[0] == pytest.approx(0.1)


def test_calibration_json_roundtrip_buckets_identically():
    cal = calibrate(np.random.default_rng(1).normal(size=500))
    again = Calibration.from_dict(cal.to_dict())
    x = np.random.default_rng(2).normal(size=100)
    assert np.array_equal(cal.bucket(x), again.bucket(x))


def test_ensemble_takes_the_maximum_bucket():
    a, b = np.array([0, 5, 19]), np.array([3, 2, 10])
    assert ensemble_buckets([a, b]).tolist() == [3, 5, 19]


def test_tiers_follow_nemotron_cc_cut_points_and_custom_cuts():
    tiers = [tier_of(b) for b in range(20)]
    assert tiers.count("low") == NEMOTRON_CC_TIER_CUTS[0]
    assert tiers[19] == "high" and tiers[NEMOTRON_CC_TIER_CUTS[3]] == "high"
    assert tiers[NEMOTRON_CC_TIER_CUTS[3] - 1] == "medium-high"
    assert [tier_of(b, (1, 2, 3, 4)) for b in (0, 1, 2, 3, 4, 19)] == [
        "low",
        "medium-low",
        "medium",
        "medium-high",
        "high",
        "high",
    ]
    with pytest.raises(ValueError):
        check_tier_cuts([5, 3, 7, 12])
