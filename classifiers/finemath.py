"""The FineMath classifier (HuggingFaceTB/finemath-classifier) read from a local folder, as a 0-5 math scorer.

Nemotron-CC-Math scores pages with it (RECIPES.md §2.1; NeMo Curator `stages/math/classifiers/finemath.py`):
a sequence-classification model with one regression output, inputs truncated to 512 tokens, the
logit clipped to [0, 5] and rounded. Nothing is downloaded: the folder (config.json, weights,
tokenizer files) must be on disk already, e.g. from `huggingface-cli download` on a machine with access.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Curator's FineMath stages: MAX_SEQ_LENGTH 512
MAX_TOKENS = 512


def check_folder(path: str) -> None:
    """ValueError unless `path` is a local folder holding a model's config.json."""
    if not (Path(path) / "config.json").is_file():
        raise ValueError(
            f"{path!r} holds no FineMath classifier (no config.json): put HuggingFaceTB/finemath-classifier "
            "there first; corpusforge never downloads it"
        )


class FineMathScorer:
    """Scores texts with the FineMath classifier: its regression output clipped to [0, 5], one float per text."""

    kind = "finemath"  # a TextScorer (model_store.py), like the project's own classifiers

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 32, max_tokens: int = MAX_TOKENS):
        check_folder(path)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.device, self.batch_size, self.max_tokens = device, batch_size, max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device).eval()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                truncation=True,
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                out.append(self.model(**batch).logits.squeeze(-1).float().cpu().numpy())
        return np.clip(np.concatenate(out), 0.0, 5.0) if out else np.zeros(0, dtype=np.float32)  # as Curator clips


@functools.lru_cache(maxsize=4)
def load_finemath(path: str, device: str = "cpu") -> FineMathScorer:
    """One scorer per folder and device per process."""
    return FineMathScorer(path, device)
