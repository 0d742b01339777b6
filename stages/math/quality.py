"""FineMath-style math quality: a 0-5 score per document and the 3+ / 4+ cuts.

Nemotron-CC-Math scores pages with the FineMath classifier (regression clipped to [0, 5], rounded)
and releases the pages at 3 and above ("3+", 133B tokens) and at 4 and above ("4+", 52B)
(RECIPES.md §2.1). The model here is any classifier folder of this project trained on 0-5 labels
(`corpusforge classifiers math-bootstrap`, or `classifiers train` on LLM labels); its score is the
expected label, rounded and clipped the same way. `backend: finemath` scores with the FineMath
classifier itself from the local folder `model` names (never downloaded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig


class MathQuality(Stage):
    """Scores math quality 0-5 (annotation `math_quality`, score `math_quality`); drops below `min_score`."""

    type = "math_quality"
    config: Config

    class Config(StageConfig):
        # project: a classifier folder of this project trained on 0-5 labels; finemath: a local folder holding the
        # FineMath classifier (HuggingFaceTB/finemath-classifier: config, weights, tokenizer), never downloaded
        model: str
        backend: Literal["project", "finemath"] = "project"
        min_score: int = Field(3, ge=0, le=5)  # FineMath / Nemotron-CC-Math "3+"; 4 keeps "4+"; 0 keeps all
        # FineMath's classifier reads the middle of long pages: 10,000 characters each side of the midpoint.
        center_chars: int = Field(10_000, ge=1)
        batch_size: int = Field(256, ge=1)
        device: Literal["auto", "cpu", "cuda"] = "auto"

        @model_validator(mode="after")
        def _finemath_folder_exists(self) -> MathQuality.Config:
            if self.backend == "finemath":
                from corpusforge.classifiers.finemath import check_folder

                try:
                    check_folder(self.model)
                except ValueError as e:
                    raise ValueError(f"model (backend: finemath): {e}") from None
            return self

    def setup(self) -> None:
        from corpusforge.classifiers.model_store import TextScorer, load_classifier

        cfg = self.config
        self.model: TextScorer
        if cfg.backend == "finemath":
            from corpusforge.classifiers.embedding_model import resolve_device
            from corpusforge.classifiers.finemath import load_finemath

            self.model = load_finemath(cfg.model, resolve_device(cfg.device))
            return
        self.model = load_classifier(cfg.model, cfg.device)

    def _crop(self, text: str) -> str:
        half = self.config.center_chars
        if len(text) <= 2 * half:
            return text
        mid = len(text) // 2
        return text[mid - half : mid + half]

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        cfg, ledger = self.config, self.ledger
        it = iter(docs)
        while batch := list(islice(it, cfg.batch_size)):
            scores = self.model.score([self._crop(d.text) for d in batch])
            for doc, score in zip(batch, scores.tolist()):
                level = int(min(5, max(0, round(score))))
                ann = doc.annotations
                ann["scores"] = {**(ann.get("scores") or {}), "math_quality": float(score)}
                ann["math_quality"] = level
                ledger.histogram("math_quality", level)
                if level < cfg.min_score:
                    self.drop(doc, f"math_quality_below_{cfg.min_score}")
                    continue
                if level >= 4:
                    ledger.count("math_4plus")
                yield doc
