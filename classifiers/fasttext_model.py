"""fastText quality classifier: train from labelled texts, save, load once, score in batches."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import fasttext
import numpy as np

from corpusforge.classifiers.model_store import local_file, write_meta
from corpusforge.classifiers.preprocess import prepare_text
from corpusforge.core import storage

MODEL_FILE = "model.bin"
LABEL_PREFIX = "__label__"


@dataclass
class FastTextSettings:
    """Training settings: fastText's text-classification recipe (Joulin et al. 2017; the fastText
    tutorial tunes lr 0.5-1.0 and tens of epochs) with DCLM's bigrams."""

    dim: int = 64  # smaller than fastText's 100: the model is loaded in every worker
    epoch: int = 20  # fastText tutorial: 25; the default 5 underfits label sets of a few thousand
    lr: float = 0.5  # fastText tutorial range; the default 0.1 leaves scores near 0.5 on small sets
    word_ngrams: int = 2  # DCLM (Li et al. 2024) fasttext-oh-eli5 "bigram" classifier
    min_count: int = 1  # fastText supervised default
    # n-gram hash buckets; fastText's 2M x dim floats is 0.5-0.8 GB per model and worker
    bucket: int = 500_000
    threads: int = 1  # one thread keeps training deterministic under a fixed seed
    seed: int = 0


def label_token(label: float) -> str:
    """fastText label for a numeric label: 1.0 -> __label__1, 2.5 -> __label__2.5."""
    return f"{LABEL_PREFIX}{float(label):g}"


class FastTextClassifier:
    """A fastText model whose score is the expected label value: P(1) for 0/1 labels, the
    probability-weighted mean for 0-5 educational labels (as FineWeb-Edu's fastText variants do)."""

    kind = "fasttext"

    def __init__(
        self, model: fasttext.FastText._FastText, max_chars: int = 100_000, settings: FastTextSettings | None = None
    ):
        self.model = model
        self.settings = settings or FastTextSettings()
        self.max_chars = max_chars
        self._values = {lab: float(lab[len(LABEL_PREFIX) :]) for lab in model.get_labels()}
        self._pair = tuple(sorted(self._values, key=self._values.__getitem__)) if len(self._values) == 2 else None

    @classmethod
    def train(
        cls, texts: Sequence[str], labels: Sequence[float], settings: FastTextSettings | None = None
    ) -> FastTextClassifier:
        """Train on texts with numeric labels (0/1, or 0-5)."""
        s = settings or FastTextSettings()
        fd, path = tempfile.mkstemp(suffix=".txt", prefix="corpusforge-ft-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for text, label in zip(texts, labels):
                    f.write(f"{label_token(label)} {prepare_text(text)}\n")
            model = fasttext.train_supervised(
                input=path,
                dim=s.dim,
                epoch=s.epoch,
                lr=s.lr,
                wordNgrams=s.word_ngrams,
                minCount=s.min_count,
                bucket=s.bucket,
                thread=s.threads,
                seed=s.seed,
                verbose=0,
            )
        finally:
            os.remove(path)
        return cls(model, settings=s)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Scores for a batch of texts, one fastText call for the whole batch."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        # The trailing newline gives each line the end-of-sentence token it had in training.
        prepared = [prepare_text(t, self.max_chars) + "\n" for t in texts]
        if self._pair is None:
            return self._score_multiclass(prepared)
        # fasttext-wheel 0.9.2's batched predict returns the top probability repeated for k>1
        # (a binding bug), so binary models ask for the top label only: P(other) = 1 - P(top).
        labels, probs = self.model.f.multilinePredict(prepared, 1, 0.0, "strict")
        top = np.fromiter((p[0] for p in probs), dtype=np.float32, count=len(prepared))
        first = np.fromiter((lab[0] == self._pair[0] for lab in labels), dtype=bool, count=len(prepared))
        lo, hi = self._values[self._pair[0]], self._values[self._pair[1]]
        p_first = np.where(first, top, 1.0 - top)
        return np.clip(lo * p_first + hi * (1.0 - p_first), lo, hi).astype(np.float32)

    def _score_multiclass(self, prepared: list[str]) -> np.ndarray:
        # Per-line predict returns the full distribution correctly; 0-5 models take this path.
        values, out = self._values, np.empty(len(prepared), dtype=np.float32)
        for i, line in enumerate(prepared):
            out[i] = sum(values[lab] * p for p, lab in self.model.f.predict(line, -1, 0.0, "strict"))
        return out

    def save(self, model_dir: str, meta: dict[str, Any] | None = None) -> None:
        """Write `model.bin` and `classifier.json` under `model_dir` (local or s3://)."""
        fd, tmp = tempfile.mkstemp(suffix=".bin", prefix="corpusforge-ft-")
        os.close(fd)
        try:
            self.model.save_model(tmp)
            with open(tmp, "rb") as src, storage.atomic_write(storage.join(model_dir, MODEL_FILE)) as dst:
                dst.write(src.read())
        finally:
            os.remove(tmp)
        write_meta(
            model_dir,
            {
                "kind": self.kind,
                "labels": sorted(self._values.values()),
                "settings": asdict(self.settings),
                **(meta or {}),
            },
        )

    @classmethod
    def load(cls, model_dir: str, meta: dict[str, Any] | None = None) -> FastTextClassifier:
        """Load a saved model (use `model_store.load_classifier` to load it once per process)."""
        # fastText prints a warning to stderr on load_model; the model is unaffected.
        fasttext.FastText.eprint = lambda *a, **k: None
        settings = FastTextSettings(**meta["settings"]) if meta and "settings" in meta else None
        return cls(fasttext.load_model(local_file(storage.join(model_dir, MODEL_FILE))), settings=settings)
