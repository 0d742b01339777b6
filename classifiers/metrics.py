"""Held-out metrics for a trained classifier: accuracy, F1 and ROC AUC on its own labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

# FineWeb-Edu (Penedo et al. 2024) binarises its 0-5 educational score at 3 to report
# classification metrics for a regression head; binary labels use 0.5 on a probability.
EDU_THRESHOLD = 3.0


def is_binary(labels: Sequence[float] | np.ndarray) -> bool:
    """True when every label is 0 or 1."""
    return set(np.unique(np.asarray(labels, dtype=float)).tolist()) <= {0.0, 1.0}


def decision_threshold(labels: Sequence[float] | np.ndarray) -> float:
    """The score at which a document counts as positive: 0.5 for 0/1 labels, 3 for 0-5 labels."""
    return 0.5 if is_binary(labels) else EDU_THRESHOLD


def evaluate(labels: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Accuracy, F1 and AUC of `scores` against `labels` (0/1, or 0-5 binarised at 3)."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    t = decision_threshold(y)
    truth = (y >= t).astype(int)
    pred = (s >= t).astype(int)
    out = {
        "n": int(len(y)),
        "positives": int(truth.sum()),
        "accuracy": float(accuracy_score(truth, pred)),
        "f1": float(f1_score(truth, pred, zero_division=0)),
        # AUC needs both classes; a one-class hold-out has none to report.
        "auc": float(roc_auc_score(truth, s)) if 0 < truth.sum() < len(truth) else float("nan"),
    }
    if not is_binary(y):
        out["mae"] = float(np.abs(y - s).mean())
    return out
