"""The `quality` and `domain_scores` stages: ensemble buckets and tiers in the annotations, the
ledger's bucket histogram per source, models loaded once, the same results on every engine."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from corpusforge.classifiers.gold_labels import gold_labels, readability_pages, scrapinghub_pages
from corpusforge.classifiers.model_store import load_calibration, load_classifier
from corpusforge.classifiers.training import train_and_save
from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.stages.quality.scores import DomainScores, QualityScores

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Two small fastText classifiers trained on different label sets (an ensemble of two)."""
    root = tmp_path_factory.mktemp("models")
    rows = gold_labels(scrapinghub_pages(DATA / "extraction" / "scrapinghub"))
    no_shuffled = [r for r in rows if not r.origin.startswith("shuffled")]
    out = {}
    for name, labelled in (("gold_ft", rows), ("prose_ft", no_shuffled)):
        train_and_save(labelled, str(root / name), name=name, bucket=50_000, dim=16, seed=1, epoch=10)
        out[name] = str(root / name)
    return out


def _docs() -> list[Document]:
    rows = gold_labels(readability_pages(DATA / "extraction" / "readability"), seed=3)[:120]
    return [
        Document(f"{r.origin.split(':')[0]}-{i}", r.text, "web" if i % 3 else "synthetic") for i, r in enumerate(rows)
    ] + [Document("empty", "", "web")]


def test_stage_writes_scores_buckets_tiers_and_histogram(models):
    stage = QualityScores(classifiers=models, batch_size=32)
    docs = _docs()
    out = list(stage.run(iter(docs)))
    assert len(out) == len(docs) and stage.ledger.balanced and stage.ledger.docs_dropped == 0
    tiers = {"low", "medium-low", "medium", "medium-high", "high"}
    for d in out:
        ann = d.annotations
        assert set(models) <= ann["scores"].keys()
        per = [int(load_calibration(p).bucket(np.array([ann["scores"][n]]))[0]) for n, p in models.items()]
        assert ann["quality_bucket"] == max(per) and 0 <= ann["quality_bucket"] <= 19
        assert ann["quality_tier"] in tiers
    by_source = stage.ledger.extra["bucket_by_source"]
    assert sum(by_source["web"].values()) == sum(d.source == "web" for d in docs)
    assert sum(by_source["synthetic"].values()) == sum(d.source == "synthetic" for d in docs)
    assert sum(stage.ledger.extra["tier"].values()) == len(docs)
    # gold article text lands in higher buckets than spam on pages never trained on
    mean = {
        k: np.mean([d.annotations["quality_bucket"] for d in out if d.id.startswith(k + "-")])
        for k in ("gold", "boilerplate", "spam")
    }
    assert mean["gold"] > mean["boilerplate"] + 3 and mean["gold"] > mean["spam"] + 3


def test_batching_pickling_and_single_load(models):
    docs = _docs()[:40]
    a = [
        d.annotations["quality_bucket"] for d in QualityScores(classifiers=models, batch_size=1).run(iter(_docs()[:40]))
    ]
    load_classifier.cache_clear()
    stage = pickle.loads(pickle.dumps(QualityScores(classifiers=models, batch_size=64)))
    b = [d.annotations["quality_bucket"] for d in stage.run(iter(docs))]
    assert a == b
    before = load_classifier.cache_info().misses
    for _ in range(3):  # more stage instances in the same worker reuse the loaded models
        list(QualityScores(classifiers=models).run(iter(docs[:2])))
    assert load_classifier.cache_info().misses == before


def test_config_validation_names_the_field():
    from corpusforge.core.config import ConfigError

    with pytest.raises(ConfigError, match="tier_cuts"):
        validate_pipeline(
            {
                "output": "/tmp/x",
                "input": {"type": "parquet", "paths": ["x"]},
                "stages": [{"type": "quality", "classifiers": {"a": "m"}, "tier_cuts": [9, 3, 7, 12]}],
            }
        )
    with pytest.raises(ConfigError, match="classifiers"):
        validate_pipeline(
            {
                "output": "/tmp/x",
                "input": {"type": "parquet", "paths": ["x"]},
                "stages": [{"type": "quality", "classifiers": {}}],
            }
        )


def test_domain_scores_stage():
    docs = [
        Document("m", "Solve 3x + 5 = 20. Then x = 5, since 3*5 + 5 = 20 and the sum is 20.", "math"),
        Document("c", "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(1, 2))\n", "code"),
        Document("w", "The river flooded the valley after a week of rain, residents said on Monday.", "web"),
    ]
    stage = DomainScores()
    out = {d.id: d.annotations["scores"] for d in stage.run(iter(docs))}
    assert out["m"]["math"] > 0.5 > out["w"]["math"] and out["c"]["code"] > 0.5 > out["w"]["code"]
    assert stage.ledger.balanced and stage.ledger.extra["math_documents"] >= 1


def _pipeline(tmp_path: Path, models: dict[str, str], engine: str) -> dict:
    docs = _docs()
    for s in range(3):
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs[s::3])
    return {
        "name": "quality",
        "output": str(tmp_path / f"out-{engine}"),
        "engine": {"type": engine, "workers": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "domain_scores"}, {"type": "quality", "classifiers": models}],
    }


def _result(result) -> tuple[dict, dict]:
    docs = {}
    for p in storage.expand([storage.join(result.data_dir, "*.parquet")]):
        for d in storage.read_documents(p):
            docs[d.id] = (
                d.annotations["quality_bucket"],
                d.annotations["quality_tier"],
                round(d.annotations["scores"]["gold_ft"], 5),
            )
    q = next(s for s in result.stages if s.name == "quality")
    return docs, q.extra["bucket_by_source"]


def test_local_engine_run_writes_annotations_and_report(tmp_path, models):
    result = run_pipeline(validate_pipeline(_pipeline(tmp_path, models, "local")), engine=LocalEngine(workers=2))
    docs, by_source = _result(result)
    assert len(docs) == len(_docs())
    stats = json.loads(storage.read_text(result.stats_path))
    q = next(s for s in stats["stages"] if s["name"] == "quality")
    assert q["balanced"] and sum(sum(h.values()) for h in q["extra"]["bucket_by_source"].values()) == len(docs)


@pytest.mark.slow
def test_spark_and_ray_match_local(tmp_path, models, spark_engine, ray_engine):
    local = _result(
        run_pipeline(validate_pipeline(_pipeline(tmp_path, models, "local")), engine=LocalEngine(workers=2))
    )
    for engine in (spark_engine, ray_engine):
        got = _result(run_pipeline(validate_pipeline(_pipeline(tmp_path, models, engine.name)), engine=engine))
        assert got == local, engine.name
