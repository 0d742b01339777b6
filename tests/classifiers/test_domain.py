"""Math and code scores separate GSM8K and HumanEval from real articles (../shared/data)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from corpusforge.classifiers.domain import DomainScorer

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _articles() -> list[str]:
    truth = json.loads((DATA / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    return [v["articleBody"] for v in truth.values()][:60]


def _gsm8k() -> list[str]:
    with open(DATA / "benchmarks" / "gsm8k" / "test.jsonl") as f:
        return [(lambda r: r["question"] + "\n" + r["answer"])(json.loads(line)) for line, _ in zip(f, range(60))]


def _humaneval() -> list[str]:
    with gzip.open(DATA / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        return [(lambda r: r["prompt"] + r["canonical_solution"])(json.loads(line)) for line, _ in zip(f, range(60))]


def test_math_score_ranks_gsm8k_above_articles():
    math = DomainScorer("math")
    gsm, art = math.score(_gsm8k()), math.score(_articles())
    assert gsm.mean() > 0.8 and art.mean() < 0.15
    assert np.median(gsm) > np.percentile(art, 95)


def test_code_score_ranks_humaneval_above_articles_and_math():
    code = DomainScorer("code")
    he, art, gsm = code.score(_humaneval()), code.score(_articles()), code.score(_gsm8k())
    assert he.mean() > 0.8 and art.mean() < 0.1 and gsm.mean() < 0.1
    assert np.all((he >= 0) & (he <= 1))
