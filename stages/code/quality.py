"""A code-quality score feeding the same bucket (0-19) and tier fields the web lane's quality stage writes.

The score is the mean of signals the code-data literature filters on, each mapped to [0, 1]: the
project's code-domain score (how much of the file is code), documentation (comment and docstring
lines in the band SantaCoder's comment filter keeps, 0.01-0.8, best around a quarter), line shape
(mean line length near 20-60 characters, no line over 120), identifier quality (share of names
longer than two characters), structure (functions or classes present) and the absence of TODO
markers. Buckets are the score's twentieths; tiers follow Nemotron-CC's cut points as in `quality`.

With `model`, a classifier trained on LLM-rated 0-5 labels (`corpusforge classifiers code-bootstrap`,
classifiers/code_labels.py) scores each file (`scores.code_quality_model`, the expected label) and its
percentile calibration gives the bucket, as the web lane's `quality` stage buckets; `combine: max`
takes the higher of the model's and the heuristic's buckets (Nemotron-CC's maximum over classifiers).
Without a model the heuristic decides: it needs no labels and is the default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Literal

from pydantic import Field, field_validator

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_STRUCTURE = re.compile(
    r"^\s*(?:def |class |fn |func |function\b|public |private |static |template\s*<|"
    r"(?:int|void|bool|char|double|float|auto)\s+\w+\s*\()",
    re.M,
)
_COMMENT = re.compile(r"^\s*(?:#(?!include|define|if|endif|pragma|!)|//|/\*|\*|--|%|;|\"\"\"|''')")
_TODO = re.compile(r"\b(?:TODO|FIXME|XXX|HACK)\b")
_KEYWORDS = frozenset(
    [
        "if",
        "else",
        "for",
        "while",
        "def",
        "class",
        "return",
        "import",
        "from",
        "in",
        "is",
        "not",
        "and",
        "or",
        "try",
        "except",
        "with",
        "as",
        "int",
        "for",
        "void",
        "char",
        "let",
        "var",
        "const",
        "fn",
        "pub",
        "use",
        "mut",
        "self",
        "this",
        "new",
        "true",
        "false",
        "none",
        "null",
    ]
)


def _band(x: float, lo: float, best_lo: float, best_hi: float, hi: float) -> float:
    """1 inside [best_lo, best_hi], falling linearly to 0 at lo and hi."""
    if x <= lo or x >= hi:
        return 0.0
    if x < best_lo:
        return (x - lo) / (best_lo - lo)
    if x > best_hi:
        return (hi - x) / (hi - best_hi)
    return 1.0


def quality_signals(text: str) -> dict[str, float]:
    """Each signal of the heuristic code-quality score, in [0, 1]."""
    lines = text.splitlines() or [""]
    nonblank = [ln for ln in lines if ln.strip()] or [""]
    lengths = [len(ln) for ln in nonblank]
    comment_share = sum(1 for ln in nonblank if _COMMENT.match(ln)) / len(nonblank)
    idents = [w for w in _IDENT.findall(text) if w not in _KEYWORDS]
    long_idents = sum(1 for w in idents if len(w) > 2) / len(idents) if idents else 0.0
    todo = sum(1 for ln in nonblank if _TODO.search(ln)) / len(nonblank)
    return {
        "documentation": _band(comment_share, 0.0, 0.1, 0.35, 0.8),
        "line_shape": 0.5 * _band(sum(lengths) / len(lengths), 5, 20, 60, 100) + 0.5 * float(max(lengths) <= 120),
        "identifiers": long_idents,
        "structure": 1.0 if _STRUCTURE.search(text) else 0.0,
        "no_todo": max(0.0, 1.0 - 20 * todo),
    }


def heuristic_score(text: str, code_score: float) -> float:
    """The heuristic code-quality score in [0, 1]: the mean of the code-domain score and the quality signals."""
    signals = quality_signals(text)
    return (float(code_score) + sum(signals.values())) / (len(signals) + 1)


def heuristic_scores(texts: Sequence[str]) -> list[float]:
    """The heuristic score of each text (what `code_quality` writes without a model)."""
    from corpusforge.classifiers.domain import DomainScorer

    return [heuristic_score(t, c) for t, c in zip(texts, DomainScorer("code").score(list(texts)))]


class CodeQuality(Stage):
    """Scores code files (`scores.code_quality`, `scores.code`), buckets 0-19 and tiers them; drops nothing."""

    type = "code_quality"
    config: Config

    class Config(StageConfig):
        # lowest bucket of medium-low, medium, medium-high, high: Nemotron-CC (Su et al. 2024), as `quality`
        tier_cuts: list[int] = [3, 7, 12, 18]
        set_bucket: bool = True  # False: only add the scores (a later `quality` stage buckets)
        batch_size: int = Field(256, ge=1)
        # A classifier folder trained on 0-5 code-quality labels; None: the heuristic score buckets.
        model: str | None = None
        # model: the classifier's bucket; max: the higher of the classifier's and the heuristic's (Nemotron-CC)
        combine: Literal["model", "max"] = "model"
        device: Literal["auto", "cpu", "cuda"] = "auto"  # embedding classifiers: GPU when present

        @field_validator("tier_cuts")
        @classmethod
        def _cuts(cls, v: list[int]) -> list[int]:
            from corpusforge.classifiers.ensemble import check_tier_cuts

            return list(check_tier_cuts(v))

        def input_paths(self) -> dict[str, list[str]]:
            return {"model": [self.model]} if self.model else {}

    def setup(self) -> None:
        from corpusforge.classifiers.domain import DomainScorer
        from corpusforge.classifiers.ensemble import tier_of

        self.domain = DomainScorer("code")
        self.tier_names = [tier_of(b, self.config.tier_cuts) for b in range(20)]
        self.model = self.calibration = None
        if self.config.model:
            from corpusforge.classifiers.model_store import load_calibration, load_classifier

            # Module-level caches: a worker process loads the model once, whatever the stage count.
            self.model = load_classifier(self.config.model, self.config.device)
            self.calibration = load_calibration(self.config.model)

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        ledger, cfg = self.ledger, self.config
        it = iter(docs)
        while batch := list(islice(it, cfg.batch_size)):
            texts = [d.text for d in batch]
            code_scores = self.domain.score(texts)
            model_scores = model_buckets = None
            if self.model is not None and self.calibration is not None:
                model_scores = self.model.score(texts)
                model_buckets = self.calibration.bucket(model_scores)
            for i, (doc, code) in enumerate(zip(batch, code_scores, strict=True)):
                score = heuristic_score(doc.text, code)
                ann = doc.annotations
                scores = {**(ann.get("scores") or {}), "code": float(code), "code_quality": score}
                ledger.histogram("code_quality_score", f"{min(int(score * 10), 9) / 10:.1f}")
                bucket = min(int(score * 20), 19)
                if model_scores is not None and model_buckets is not None:
                    scores["code_quality_model"] = float(model_scores[i])
                    ledger.histogram("code_quality_model", str(int(min(5, max(0, round(float(model_scores[i])))))))
                    by_model = int(model_buckets[i])
                    bucket = max(bucket, by_model) if cfg.combine == "max" else by_model
                ann["scores"] = scores
                if cfg.set_bucket:
                    ann["quality_bucket"] = bucket
                    ann["quality_tier"] = self.tier_names[bucket]
                    ledger.histogram("tier", self.tier_names[bucket])
                yield doc
