"""Math quality 0-5: labels from the math score, a fastText model trained on them, the 3+ / 4+ cuts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpusforge.classifiers.domain import math_score
from corpusforge.classifiers.math_labels import MathScoreLabeller, math_label
from corpusforge.classifiers.training import train_and_save
from corpusforge.core.document import Document
from corpusforge.stages.math.quality import MathQuality

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def test_labels_follow_the_math_score_and_line_up_with_the_math_document_threshold():
    assert [math_label(s) for s in (0.0, 0.2, 0.49, 0.5, 0.7, 0.95, 1.0)] == [0, 1, 2, 3, 4, 5, 5]
    rows = list(MathScoreLabeller(["too short", "x" * 200, r"$\frac{a}{b} = \sum_i \alpha_i x^2$ " * 20]).labels())
    assert [r.label for r in rows] == [0.0, 5.0]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not (SHARED / "benchmarks" / "gsm8k" / "train.jsonl").exists():
        pytest.skip("shared data absent")
    math = [json.loads(x) for x in (SHARED / "benchmarks" / "gsm8k" / "train.jsonl").read_text().splitlines()[:600]]
    prose = [
        v["articleBody"]
        for v in json.loads((SHARED / "extraction" / "scrapinghub" / "ground-truth.json").read_text()).values()
    ]
    texts = [f"{r['question']}\n{r['answer']}" for r in math] + prose
    rows = list(MathScoreLabeller(texts).labels())
    assert len({r.label for r in rows}) >= 4
    out = str(tmp_path_factory.mktemp("m") / "math")
    metrics = train_and_save(rows, out, kind="fasttext", name="math_quality", epoch=25)
    return out, metrics


def test_trained_model_separates_math_from_prose_and_the_stage_cuts_at_3(model):
    path, metrics = model
    assert metrics["auc"] > 0.9, metrics
    worked = (
        "Let $f(x) = x^2 - 4x + 3$. We solve $f(x) = 0$: the discriminant is $16 - 12 = 4$, so "
        r"$x = \frac{4 \pm 2}{2}$, that is $x = 1$ or $x = 3$. The sum of the roots is $4$ and "
        "the product is $3$, as Vieta's formulas predict for a quadratic equation."
    ) * 3
    news = (
        "The city council met on Tuesday evening to discuss the new library building, which residents "
        "have asked for since the old one closed. Several speakers praised the design of the reading room."
    ) * 3
    stage = MathQuality(model=path)
    docs = [Document("m", worked, "math", {}), Document("n", news, "math", {})]
    out = list(stage.run(docs))
    assert stage.ledger.balanced
    assert [d.id for d in out] == ["m"]
    assert out[0].annotations["math_quality"] >= 3 and "math_quality" in out[0].annotations["scores"]
    assert stage.ledger.dropped == {"math_quality_below_3": 1}
    assert math_score(worked) > 0.5 > math_score(news)
