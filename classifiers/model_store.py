"""A trained classifier on disk: a folder holding `classifier.json` (kind, settings, held-out
metrics), the weights, and `calibration.json` (the percentile thresholds that turn its scores
into buckets). Loaded once per worker process through the caches below."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from corpusforge.classifiers.preprocess import PREPROCESS_VERSION
from corpusforge.core import storage

META_FILE = "classifier.json"
CALIBRATION_FILE = "calibration.json"


class TextScorer(Protocol):
    """Anything that scores texts: higher is better quality (or more math, more code)."""

    kind: str

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text."""


def write_meta(model_dir: str, meta: dict[str, Any]) -> None:
    """Write `classifier.json` with the preprocessing version the model was trained under."""
    storage.write_text(
        storage.join(model_dir, META_FILE), json.dumps({**meta, "preprocess_version": PREPROCESS_VERSION}, indent=2)
    )


def read_meta(model_dir: str) -> dict[str, Any]:
    """The model's `classifier.json`."""
    path = storage.join(model_dir, META_FILE)
    if not storage.exists(path):
        raise FileNotFoundError(f"{model_dir}: no {META_FILE}; train one with `corpusforge classifiers train`")
    meta = json.loads(storage.read_text(path))
    if meta.get("preprocess_version") != PREPROCESS_VERSION:
        raise ValueError(
            f"{model_dir}: trained under preprocessing v{meta.get('preprocess_version')}, "
            f"this code is v{PREPROCESS_VERSION}; retrain it"
        )
    return meta


def local_file(path: str) -> str:
    """A local path for `path`: itself when local, else a copy in the temp dir (fastText reads files)."""
    fs, p = storage.filesystem(path)
    if storage._is_local(fs):
        return p
    cache = os.path.join(tempfile.gettempdir(), "corpusforge-models", hashlib.sha1(path.encode()).hexdigest())
    target = os.path.join(cache, os.path.basename(p))
    if not os.path.exists(target):
        os.makedirs(cache, exist_ok=True)
        tmp = f"{target}.tmp-{os.getpid()}"
        fs.get(p, tmp)
        os.replace(tmp, target)
    return target


@functools.lru_cache(maxsize=16)
def load_classifier(model_dir: str, device: str = "auto") -> TextScorer:
    """The classifier stored in `model_dir`, loaded once per process (keyed by path and device)."""
    meta = read_meta(model_dir)
    kind = meta["kind"]
    if kind == "fasttext":
        from corpusforge.classifiers.fasttext_model import FastTextClassifier

        return FastTextClassifier.load(model_dir, meta)
    if kind == "embedding":
        from corpusforge.classifiers.embedding_model import EmbeddingClassifier

        return EmbeddingClassifier.load(model_dir, meta, device=device)
    raise ValueError(f"{model_dir}: unknown classifier kind {kind!r} (fasttext, embedding)")


@functools.lru_cache(maxsize=16)
def load_calibration(model_dir: str):
    """The model's percentile calibration, loaded once per process."""
    from corpusforge.classifiers.ensemble import Calibration

    path = storage.join(model_dir, CALIBRATION_FILE)
    if not storage.exists(path):
        raise FileNotFoundError(f"{model_dir}: no {CALIBRATION_FILE}; run `corpusforge classifiers calibrate`")
    return Calibration.from_dict(json.loads(storage.read_text(path)))


def write_calibration(model_dir: str, calibration) -> None:
    """Store the calibration beside the model, so every worker buckets identically."""
    storage.write_text(storage.join(model_dir, CALIBRATION_FILE), json.dumps(calibration.to_dict(), indent=2))
    load_calibration.cache_clear()
