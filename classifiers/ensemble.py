"""Nemotron-CC's ensemble: each classifier's score -> an integer bucket 0-19 by percentiles of a
calibration sample; a document's bucket is the maximum over classifiers; buckets -> 5 tiers.

Su et al. 2024 (Nemotron-CC, §2.1) convert each classifier's score to 0-19 by its own
percentiles so that classifiers on different scales become comparable, then take the maximum,
which raises the recall of high-quality text over any single classifier's top slice. NeMo
Curator's recipe computes the percentiles weighted by document length (token-weighted) at the
5th, 10th, ..., 95th percentiles and maps scores with `np.digitize`; so do we.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_BUCKETS = 20
PERCENTILES = tuple(range(5, 100, 5))  # 19 cut points -> 20 buckets (Nemotron-CC)
TIERS = ("low", "medium-low", "medium", "medium-high", "high")
# Lowest bucket of medium-low, medium, medium-high and high. Nemotron-CC's recipe treats
# buckets 18-19 as its top quality (the documents it runs knowledge-extraction SDG on) and
# routes buckets above 11 to high-quality SDG, below to Wikipedia-style rephrasing.
NEMOTRON_CC_TIER_CUTS = (3, 7, 12, 18)


@dataclass(frozen=True)
class Calibration:
    """The 19 score thresholds of one classifier, from a calibration sample."""

    thresholds: tuple[float, ...]
    n: int = 0  # documents in the calibration sample
    weighted: bool = True  # percentiles weighted by document length

    def bucket(self, scores: np.ndarray) -> np.ndarray:
        """Integer buckets 0-19 for an array of scores."""
        return np.digitize(np.asarray(scores, dtype=np.float64), np.asarray(self.thresholds)).astype(np.int8)

    def to_dict(self) -> dict:
        return {
            "percentiles": list(PERCENTILES),
            "thresholds": list(self.thresholds),
            "n": self.n,
            "weighted": self.weighted,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        if len(d["thresholds"]) != len(PERCENTILES):
            raise ValueError(f"calibration has {len(d['thresholds'])} thresholds, expected {len(PERCENTILES)}")
        return cls(tuple(float(t) for t in d["thresholds"]), int(d.get("n", 0)), bool(d.get("weighted", True)))


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, percentiles: Sequence[float]) -> np.ndarray:
    """Inverted-CDF weighted percentiles (NeMo Curator's `weighted_percentile`)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cdf = np.cumsum(w) / w.sum()
    idx = np.searchsorted(cdf, np.asarray(percentiles) / 100.0, side="left")
    return v[np.minimum(idx, len(v) - 1)]


def calibrate(scores: Sequence[float] | np.ndarray, lengths: Sequence[int] | None = None) -> Calibration:
    """Thresholds at the 5th..95th percentiles of `scores`, weighted by `lengths` when given."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        raise ValueError("calibration needs at least one scored document")
    w = np.ones_like(s) if lengths is None else np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
    return Calibration(tuple(float(t) for t in weighted_percentiles(s, w, PERCENTILES)), len(s), lengths is not None)


def ensemble_buckets(buckets_per_classifier: Sequence[np.ndarray]) -> np.ndarray:
    """The document's bucket: the maximum over classifiers (Nemotron-CC)."""
    return np.max(np.vstack(buckets_per_classifier), axis=0).astype(np.int8)


def check_tier_cuts(cuts: Sequence[int]) -> tuple[int, ...]:
    """Validate 4 strictly increasing cut points within 1..19."""
    cuts = tuple(int(c) for c in cuts)
    if len(cuts) != len(TIERS) - 1 or list(cuts) != sorted(set(cuts)) or cuts[0] < 1 or cuts[-1] > N_BUCKETS - 1:
        raise ValueError(f"tier cuts must be 4 strictly increasing buckets in 1..19, got {list(cuts)}")
    return cuts


def tier_of(bucket: int, cuts: Sequence[int] = NEMOTRON_CC_TIER_CUTS) -> str:
    """The tier name of a bucket: buckets below cuts[0] are low, at or above cuts[3] high."""
    return TIERS[int(np.searchsorted(np.asarray(cuts), bucket, side="right"))]
