"""Quality scoring the Nemotron-CC way, and math/code domain scores.

`quality`: every document is scored by each configured classifier; each score becomes a bucket
0-19 through the percentiles stored with that classifier; the document's bucket is the maximum
over classifiers and maps to one of five tiers. Nothing is dropped: Nemotron-CC keeps every tier
and weights tiers in the blend (mixtures/), instead of keeping one classifier's top slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

from pydantic import Field, field_validator

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig


def _batches(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while batch := list(islice(it, size)):
        yield batch


class QualityScores(Stage):
    """Scores, buckets (0-19) and tiers documents with a classifier ensemble; drops nothing."""

    type = "quality"
    config: Config

    class Config(StageConfig):
        # score name -> trained model folder (`corpusforge classifiers train/bootstrap` writes one)
        classifiers: dict[str, str] = Field(min_length=1)
        # lowest bucket of medium-low, medium, medium-high, high: Nemotron-CC (Su et al. 2024)
        tier_cuts: list[int] = [3, 7, 12, 18]
        # documents scored per classifier call: amortises fastText/encoder call overhead
        batch_size: int = Field(256, ge=1)
        device: Literal["auto", "cpu", "cuda"] = "auto"  # embedding classifiers: GPU when present

        @field_validator("tier_cuts")
        @classmethod
        def _cuts(cls, v: list[int]) -> list[int]:
            from corpusforge.classifiers.ensemble import check_tier_cuts

            return list(check_tier_cuts(v))

        def input_paths(self) -> dict[str, list[str]]:
            return {f"classifiers.{name}": [path] for name, path in self.classifiers.items()}

    def setup(self) -> None:
        from corpusforge.classifiers.ensemble import tier_of
        from corpusforge.classifiers.model_store import load_calibration, load_classifier

        # Module-level caches: a worker process loads each model once, whatever the stage count.
        self.models = {
            name: (load_classifier(path, self.config.device), load_calibration(path))
            for name, path in self.config.classifiers.items()
        }
        self.tier_names = [tier_of(b, self.config.tier_cuts) for b in range(20)]

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        from corpusforge.classifiers.ensemble import ensemble_buckets

        ledger = self.ledger
        by_source = ledger.extra.setdefault("bucket_by_source", {})
        for batch in _batches(docs, self.config.batch_size):
            texts = [d.text for d in batch]
            scores, buckets = {}, []
            for name, (model, calibration) in self.models.items():
                s = model.score(texts)
                scores[name] = s
                buckets.append(calibration.bucket(s))
            final = ensemble_buckets(buckets)
            for i, doc in enumerate(batch):
                b = int(final[i])
                tier = self.tier_names[b]
                ann = doc.annotations
                ann["scores"] = {**(ann.get("scores") or {}), **{n: float(s[i]) for n, s in scores.items()}}
                ann["quality_bucket"] = b
                ann["quality_tier"] = tier
                ledger.histogram("bucket", b)
                ledger.histogram("tier", tier)
                src = by_source.setdefault(doc.source, {})
                src[str(b)] = src.get(str(b), 0) + 1
                yield doc


class DomainScores(Stage):
    """Adds `math` and `code` scores in [0, 1] (OpenWebMath-style signal densities); drops nothing."""

    type = "domain_scores"
    config: Config

    class Config(StageConfig):
        domains: list[Literal["math", "code"]] = ["math", "code"]
        # a score at or above this counts the document as math/code in the ledger; OpenWebMath
        # keeps pages whose MathScore exceeds 0.17 (after its prefilter) and we use 0.5 on ours
        threshold: float = Field(0.5, ge=0.0, le=1.0)
        batch_size: int = Field(256, ge=1)

    def setup(self) -> None:
        from corpusforge.classifiers.domain import DomainScorer

        self.scorers = {d: DomainScorer(d) for d in self.config.domains}

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        ledger, threshold = self.ledger, self.config.threshold
        for batch in _batches(docs, self.config.batch_size):
            texts = [d.text for d in batch]
            scores = {d: s.score(texts) for d, s in self.scorers.items()}
            for i, doc in enumerate(batch):
                ann = doc.annotations
                ann["scores"] = {**(ann.get("scores") or {}), **{d: float(s[i]) for d, s in scores.items()}}
                for d, s in scores.items():
                    if s[i] >= threshold:
                        ledger.count(f"{d}_documents")
                    ledger.histogram(f"{d}_score", f"{min(int(s[i] * 10), 9) / 10:.1f}")
                yield doc
