"""Math-aware decontamination: MATH-500 and GSM8K problems typeset differently on a page are still found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.math import restyle_latex
from corpusforge.stages.decontam.decontaminate import Decontaminate
from corpusforge.stages.decontam.ngram_index import ngrams

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
MATH500 = SHARED / "benchmarks" / "math500" / "test.jsonl"
GSM8K = SHARED / "benchmarks" / "gsm8k" / "test.jsonl"
SCRAPINGHUB = SHARED / "extraction" / "scrapinghub" / "ground-truth.json"

pytestmark = pytest.mark.skipif(not MATH500.exists(), reason="shared benchmarks absent")


def _tokens(text: str, mode: str) -> list[str]:
    g = ngrams(text, 1, mode)
    return [text[a:b] for a, b in zip(g.span_start.tolist(), g.span_end.tolist())]


def test_latex_spelling_does_not_change_the_math_tokens():
    a = r"Find $\sin x + \pi$ if $\dfrac12 = 2x$ and $\left( x^{2} \right)$"
    b = "Find sin x + π if 1/2 = 2 x and (x²)"
    assert len(_tokens(a, "math")) == 12
    assert ngrams(a, 1, "math").hashes.tolist() == ngrams(b, 1, "math").hashes.tolist()
    word_a = _tokens(r"Find $\sin x + \pi$ if $\dfrac12 = 2x$", "word")
    assert "sin" not in word_a  # plain word mode blanks \sin and \pi: a copy writing "sin x" no longer lines up


@pytest.fixture(scope="module")
def restyled() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in MATH500.read_text(encoding="utf-8").splitlines()]
    pairs = [(r["question"], restyle_latex(r["question"])) for r in rows]
    # problems the restyling changes in a way plain word n-grams notice (\frac12, x², π)
    return [(q, r) for q, r in pairs if len(q.split()) >= 20 and any(s in q for s in ("^2", "\\pi", "\\frac{"))][:60]


def _stage(mode: str) -> Decontaminate:
    return Decontaminate(
        benchmarks=[{"name": "math500", "path": str(MATH500)}, {"name": "gsm8k", "path": str(GSM8K)}], mode=mode
    )


def _found(stage: Decontaminate, texts: list[str]) -> int:
    docs = [Document(str(i), t, "math", {}) for i, t in enumerate(texts)]
    out = list(stage.run(docs))
    assert stage.ledger.balanced
    return len(docs) - len(out)


def test_restyled_math500_problems_are_found_in_math_mode_and_missed_in_word_mode(restyled):
    prose = "I found this one in my homework and cannot see how to start. "
    pages = [prose + r + " Any hints?" for _, r in restyled]
    assert len(pages) >= 30
    math_found = _found(_stage("math"), pages)
    word_found = _found(_stage("word"), pages)
    assert math_found == len(pages)
    assert word_found < math_found  # what the math normalisation is for


def test_math_mode_leaves_clean_text_alone():
    articles = [v["articleBody"] for v in json.loads(SCRAPINGHUB.read_text()).values()][:60]
    assert _found(_stage("math"), articles) == 0
