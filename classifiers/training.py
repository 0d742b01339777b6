"""Train a classifier from labelled texts, measure it on a held-out split, calibrate, save."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from sklearn.model_selection import train_test_split

from corpusforge.classifiers.ensemble import Calibration, calibrate
from corpusforge.classifiers.labels import LabelledText
from corpusforge.classifiers.metrics import decision_threshold, evaluate
from corpusforge.classifiers.model_store import TextScorer, load_calibration, load_classifier, write_calibration

KINDS = ("fasttext", "embedding")


class SavableScorer(TextScorer, Protocol):
    """A freshly trained scorer: it scores texts and writes itself to a model folder."""

    def save(self, model_dir: str, meta: dict[str, Any] | None = None) -> None:
        """Write the model and `classifier.json` under `model_dir`."""


def split(rows: Sequence[LabelledText], holdout: float, seed: int) -> tuple[list[LabelledText], list[LabelledText]]:
    """Stratified train / held-out split (stratified on the binarised label)."""
    labels = np.array([r.label for r in rows])
    strata = (labels >= decision_threshold(labels)).astype(int)
    stratify = strata if np.bincount(strata).min() >= 2 else None
    train, test = train_test_split(list(rows), test_size=holdout, random_state=seed, stratify=stratify)
    return train, test


def oversample(rows: Sequence[LabelledText]) -> list[LabelledText]:
    """The rows with the smaller side of the decision threshold repeated until both sides are as large.

    For label sets where one side is rare (a few dozen math pages among web pages): fastText
    otherwise learns the majority side and scores every page near it. Only the training split is
    oversampled, so held-out metrics never see a repeated row.
    """
    labels = np.array([r.label for r in rows])
    high = labels >= decision_threshold(labels)
    pos = [r for r, h in zip(rows, high) if h]
    neg = [r for r, h in zip(rows, high) if not h]
    small, big = (pos, neg) if len(pos) < len(neg) else (neg, pos)
    if not small:
        return list(rows)
    return big + [small[i % len(small)] for i in range(len(big))]


def fit(
    kind: str,
    texts: list[str],
    labels: list[float],
    *,
    epoch: int | None = None,
    dim: int | None = None,
    bucket: int | None = None,
    device: str = "auto",
    seed: int = 0,
) -> SavableScorer:
    """Train one classifier of `kind` on texts and labels."""
    if kind == "fasttext":
        from corpusforge.classifiers.fasttext_model import FastTextClassifier, FastTextSettings

        s = FastTextSettings(seed=seed)
        if epoch is not None:
            s.epoch = epoch
        if dim is not None:
            s.dim = dim
        if bucket is not None:
            s.bucket = bucket
        return FastTextClassifier.train(texts, labels, s)
    if kind == "embedding":
        from corpusforge.classifiers.embedding_model import EmbeddingClassifier

        return EmbeddingClassifier.train(texts, labels, device=device)
    raise ValueError(f"unknown classifier kind {kind!r}; one of {KINDS}")


def calibration_for(model: TextScorer, texts: Iterable[str], batch_size: int = 512) -> Calibration:
    """Length-weighted percentile thresholds of the model's scores on a calibration sample."""
    scores, lengths, batch = [], [], []
    for t in texts:
        batch.append(t)
        if len(batch) >= batch_size:
            scores.append(model.score(batch))
            lengths += [len(x.encode("utf-8", "surrogatepass")) for x in batch]
            batch = []
    if batch:
        scores.append(model.score(batch))
        lengths += [len(x.encode("utf-8", "surrogatepass")) for x in batch]
    return calibrate(np.concatenate(scores) if scores else [], lengths)


def train_and_save(
    rows: Sequence[LabelledText],
    out_dir: str,
    *,
    kind: str = "fasttext",
    name: str | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    epoch: int | None = None,
    dim: int | None = None,
    bucket: int | None = None,
    device: str = "auto",
    calibration_texts: Iterable[str] | None = None,
    source: str = "",
    balance: bool = False,
) -> dict:
    """Train on a split, report held-out accuracy/F1/AUC, calibrate and save under `out_dir`."""
    train, test = split(rows, holdout, seed)
    if balance:
        train = oversample(train)
    t0 = time.perf_counter()
    model = fit(
        kind,
        [r.text for r in train],
        [r.label for r in train],
        epoch=epoch,
        dim=dim,
        bucket=bucket,
        device=device,
        seed=seed,
    )
    train_s = time.perf_counter() - t0
    metrics = evaluate([r.label for r in test], model.score([r.text for r in test]))
    metrics["train_examples"] = len(train)
    metrics["train_seconds"] = round(train_s, 3)
    meta = {"name": name or kind, "labels_source": source, "metrics": metrics}
    model.save(out_dir, meta)
    # Nemotron-CC takes percentiles over the corpus being bucketed; without a corpus sample the
    # labelled texts themselves are the calibration sample (recalibrate with `calibrate`).
    cal_texts = calibration_texts if calibration_texts is not None else (r.text for r in rows)
    write_calibration(out_dir, calibration_for(model, cal_texts))
    load_classifier.cache_clear()
    load_calibration.cache_clear()
    return metrics
