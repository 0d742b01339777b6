"""FineMath-style 0-5 math labels from the math score the project computes (classifiers/domain.py).

FineMath (HuggingFaceTB) grades pages 0-5 with an LLM and trains a classifier to reproduce the
grade; without an LLM at hand, the label here is the OpenWebMath-style math score (density of
LaTeX, equations and math vocabulary, in [0, 1)) cut into six equal bins. The bins line up with
the project's own decision: score 0.5, where `domain_scores` counts a document as math, is the
lower edge of label 3, so FineMath's "3+" cut keeps what the heuristic calls math and "4+" the
denser two bins. A fastText model trained on these labels scores pages the heuristic never saw
by their words (LaTeX commands, math vocabulary), and runs at fastText speed.
LLM labels (`corpusforge classifiers annotate`) train the same model kind when a server is at hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from corpusforge.classifiers.domain import math_score
from corpusforge.classifiers.labels import LabelledText, Labeller

# FineMath's scale: 0 no math ... 3 math with reasoning ... 5 outstanding; 3+ and 4+ are its cuts.
LEVELS = 6


def math_label(score: float) -> int:
    """The 0-5 label of a math score in [0, 1]: six equal bins."""
    return min(LEVELS - 1, max(0, int(score * LEVELS)))


class MathScoreLabeller(Labeller):
    """Labels each text 0-5 by its math score; at most `max_per_label` texts per label, in input order."""

    def __init__(self, texts: Iterable[str], min_chars: int = 100, max_per_label: int | None = 50_000):
        self.texts, self.min_chars, self.max_per_label = texts, min_chars, max_per_label

    def labels(self) -> Iterator[LabelledText]:
        seen = [0] * LEVELS
        for text in self.texts:
            if len(text) < self.min_chars:
                continue
            label = math_label(math_score(text))
            if self.max_per_label is not None and seen[label] >= self.max_per_label:
                continue
            seen[label] += 1
            yield LabelledText(text, float(label), "math_score")
