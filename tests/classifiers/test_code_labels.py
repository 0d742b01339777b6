"""LLM-rated code-quality labels: reply parsing, the embedded model over a real loopback HTTP server (digit
logprobs, cache, accounting), a classifier trained on 0-5 code labels, and `code_quality` bucketing with it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from corpusforge.classifiers.code_labels import (
    CodeSample,
    LLMCodeQualityLabeller,
    agreement,
    degraded_copy,
    digit_score,
    parse_final_score,
)
from corpusforge.classifiers.labels import LabelledText
from corpusforge.core.document import Document
from corpusforge.core.stats import StageStats
from corpusforge.samples.code import SITE_PACKAGES
from corpusforge.stages.code.quality import heuristic_scores
from corpusforge.synthetic.backends.base import ChatReply


def _real_files(n: int, lo: int = 600, hi: int = 6000) -> list[CodeSample]:
    """Real Python files of installed packages, sorted by path (small ones)."""
    paths = sorted(p for p in (SITE_PACKAGES / "rich").glob("*.py") if lo < p.stat().st_size < hi)[:n]
    return [CodeSample(p.read_text(encoding="utf-8"), "Python", f"rich/{p.name}") for p in paths]


def test_reply_parsing():
    assert parse_final_score("Readable, documented.\nFinal score: 4") == 4.0
    assert parse_final_score("final score: **2**/5") == 2.0
    assert parse_final_score("Final score: 1 ... on reflection Final score: 3") == 3.0
    with pytest.raises(ValueError):
        parse_final_score("Score it yourself.")
    with pytest.raises(ValueError):
        parse_final_score("Final score: 7")
    # digit mode: the probability-weighted digit at the first position, else the written digit
    top = {"token": "4", "logprob": np.log(0.5), "top": {"4": np.log(0.5), "2": np.log(0.25), "x": np.log(0.25)}}
    assert digit_score(ChatReply(text="4", logprobs=[top])) == pytest.approx((4 * 0.5 + 2 * 0.25) / 0.75)
    space = {"token": " ", "logprob": -0.1, "top": {" ": -0.1, " N": -2.0}}
    assert digit_score(ChatReply(text=" 4", logprobs=[space, top])) == pytest.approx((4 * 0.5 + 2 * 0.25) / 0.75)
    assert digit_score(ChatReply(text="3")) == 3.0
    with pytest.raises(ValueError):
        digit_score(ChatReply(text="seven"))


def test_agreement_measures_how_far_labels_follow_the_heuristic():
    heuristic = [0.05, 0.2, 0.4, 0.55, 0.7, 0.95]  # six bins: 0..5
    perfect = agreement([0, 1, 2, 3, 4, 5], heuristic)
    assert perfect["exact"] == 1.0 and perfect["quadratic_kappa"] == pytest.approx(1.0) and perfect["spearman"] > 0.99
    reversed_ = agreement([5, 4, 3, 2, 1, 0], heuristic)
    assert reversed_["spearman"] < -0.99 and reversed_["quadratic_kappa"] < 0
    assert reversed_["label_histogram"] == {str(k): 1 for k in range(6)}


def test_code_quality_stage_buckets_with_a_trained_model(tmp_path):
    from corpusforge.classifiers.model_store import load_calibration, load_classifier
    from corpusforge.classifiers.training import train_and_save
    from corpusforge.stages.code.quality import CodeQuality

    good = _real_files(30)
    assert len(good) >= 20
    rows = [LabelledText(s.text, 4.0 + (i % 2), "test") for i, s in enumerate(good)]
    rows += [LabelledText(degraded_copy(s.text), float(i % 2), "test") for i, s in enumerate(good)]
    model_dir = str(tmp_path / "model")
    metrics = train_and_save(rows, model_dir, kind="fasttext", name="code_quality", seed=0)
    assert metrics["auc"] > 0.8  # real code against its degraded copy

    docs = [Document(f"g{i}", s.text, "code") for i, s in enumerate(good[:8])]
    docs += [Document(f"b{i}", degraded_copy(s.text), "code") for i, s in enumerate(good[:8])]
    heuristic_only = CodeQuality()
    plain = {d.id: dict(d.annotations) for d in heuristic_only.run([Document(d.id, d.text, "code") for d in docs])}
    stage = CodeQuality(model=model_dir)
    out = {d.id: d.annotations for d in stage.run(docs)}
    model, calibration = load_classifier(model_dir), load_calibration(model_dir)
    scores = model.score([d.text for d in docs])
    for d, s in zip(docs, scores):
        ann = out[d.id]
        assert ann["scores"]["code_quality_model"] == pytest.approx(float(s))
        assert ann["quality_bucket"] == int(calibration.bucket(np.array([s]))[0])  # the model decides the bucket
        assert ann["scores"]["code_quality"] == pytest.approx(plain[d.id]["scores"]["code_quality"])  # kept
    assert np.mean([out[f"g{i}"]["quality_bucket"] for i in range(8)]) > np.mean(
        [out[f"b{i}"]["quality_bucket"] for i in range(8)]
    )
    assert stage.ledger.balanced and sum(stage.ledger.extra["code_quality_model"].values()) == len(docs)
    both = CodeQuality(model=model_dir, combine="max")
    for d in both.run([Document(d.id, d.text, "code") for d in docs]):
        assert d.annotations["quality_bucket"] == max(plain[d.id]["quality_bucket"], out[d.id]["quality_bucket"])


# ------------------------------------------------------------------ the embedded model over loopback HTTP


def test_digit_labels_from_the_embedded_model_over_http_cached_and_accounted(llm_serve, tmp_path):
    from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
    from corpusforge.synthetic.backends.embedded import MODEL_NAME
    from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend, OpenAIServerConfig

    def backend() -> OpenAIServerBackend:
        return OpenAIServerBackend(
            OpenAIServerConfig(base_url=llm_serve, model=MODEL_NAME, concurrency=4, timeout_s=300)
        )

    # the server returns OpenAI-shaped logprobs: the top alternatives of each generated token
    one = ChatRequest([{"role": "user", "content": "Say a digit."}], SamplingSettings(max_tokens=1, logprobs=5))
    reply = asyncio.run(backend().generate([one]))[0]
    assert reply.ok and len(reply.logprobs) == 1 and len(reply.logprobs[0]["top"]) == 5

    samples = [CodeSample(s.text[:600], s.language, s.path) for s in _real_files(3)]
    ledger = StageStats("code_quality_labels")
    cache = str(tmp_path / "cache.jsonl")
    labeller = LLMCodeQualityLabeller(backend(), samples, cache, mode="digit", max_chars=600, ledger=ledger)
    rows = list(labeller.labels())
    assert len(rows) == 3 and all(r.label in {0.0, 1.0, 2.0, 3.0, 4.0, 5.0} for r in rows), labeller.failures
    assert ledger.balanced and ledger.extra["llm_requests"] == 3 and ledger.extra["llm_prompt_tokens"] > 300
    assert all(r.origin.startswith(f"llm:{MODEL_NAME}:code_quality@v1#") for r in rows)
    again_ledger = StageStats("code_quality_labels")
    again = LLMCodeQualityLabeller(backend(), samples, cache, mode="digit", max_chars=600, ledger=again_ledger)
    assert [r.label for r in again.labels()] == [r.label for r in rows]
    assert again.requested == 0 and again_ledger.extra["llm_cache_hits"] == 3
    assert len(heuristic_scores([s.text for s in samples])) == 3
    cached = [json.loads(line) for line in open(cache, encoding="utf-8")]
    assert len(cached) == 3 and all(0 <= c["score"] <= 5 for c in cached)


@pytest.mark.slow
def test_code_bootstrap_resumes_from_cached_ratings_trains_and_code_quality_uses_it(llm_serve, tmp_path):
    """`classifiers code-bootstrap` against the served embedded model, resuming a labelling run whose cache
    already holds a rater's answers for all but two files (the cache entries stand for an earlier run on a
    strong model: real files rated 4-5, their degraded copies 0-1); the two missing files go over HTTP."""
    from corpusforge.classifiers.labels import AnnotationCache
    from corpusforge.core import storage
    from corpusforge.stages.code.quality import CodeQuality
    from corpusforge.synthetic.backends.embedded import MODEL_NAME
    from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend, OpenAIServerConfig

    good = _real_files(14, hi=4000)
    bad = [CodeSample(degraded_copy(s.text), s.language, s.path) for s in good]
    samples = good + bad
    docs = [Document(f"d{i}", s.text, "code", {"language": s.language, "path": s.path}) for i, s in enumerate(samples)]
    storage.write_documents(str(tmp_path / "code" / "0.parquet"), docs)
    out = tmp_path / "model"
    cache_path = str(out / "labels.cache.jsonl")
    keyer = LLMCodeQualityLabeller(
        OpenAIServerBackend(OpenAIServerConfig(base_url=llm_serve, model=MODEL_NAME)),
        [],
        cache_path,
        mode="digit",
        max_chars=600,
    )
    cache = AnnotationCache(cache_path)
    for i, s in enumerate(samples[1:-1]):
        rating = 4.0 + (i % 2) if s in good else float(i % 2)
        cache.add(keyer.key(s.text, {"language": s.language, "path": s.path}), {"score": rating, "reply": ""})
    cache.close()

    cmd = [sys.executable, "-m", "corpusforge.cli", "classifiers", "code-bootstrap", str(tmp_path / "code" / "*")]
    cmd += ["--out", str(out), "--base-url", llm_serve, "--model", MODEL_NAME, "--mode", "digit"]
    cmd += ["--max-chars", "600"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "labels.jsonl.stats.json").read_text())
    ledger = report["stages"][0]
    assert ledger["docs_in"] == len(samples) and ledger["extra"]["llm_cache_hits"] == len(samples) - 2
    assert ledger["extra"]["llm_requests"] == 2  # only the two uncached files went to the server
    assert report["mode"] == "digit" and report["prompt"].startswith("code_quality@v1#")
    assert report["agreement_with_heuristic"]["n"] == ledger["docs_out"]
    meta = json.loads((out / "classifier.json").read_text())
    assert meta["name"] == "code_quality" and meta["kind"] == "fasttext"
    assert (out / "calibration.json").exists()

    stage = CodeQuality(model=str(out))
    scored = {d.id: d.annotations for d in stage.run(docs)}
    n = len(good)
    assert np.mean([scored[f"d{i}"]["quality_bucket"] for i in range(n)]) > np.mean(
        [scored[f"d{i}"]["quality_bucket"] for i in range(n, 2 * n)]
    )
