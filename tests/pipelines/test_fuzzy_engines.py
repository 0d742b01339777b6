"""Fuzzy dedup through the runner: the local, Spark and Ray engines remove exactly the same documents."""

from pathlib import Path

import pytest
from dedup_eval import exact_removed, planted_corpus, precision_recall

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.base import make_engine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    texts, _ = planted_corpus(DATA, "char", 24, [0.6, 0.8, 0.85, 0.9, 0.95, 1.0] * 5, n_base=90, seed=5)
    root = tmp_path_factory.mktemp("fuzzy-in")
    docs = [
        Document(f"doc-{i:04d}", t, meta={"warc_date": f"2024-01-{1 + i % 28:02d}T00:00:00Z"})
        for i, t in enumerate(texts)
    ]
    shards = 4
    for s in range(shards):
        storage.write_documents(
            str(root / f"{s}.parquet"), docs[s * len(docs) // shards : (s + 1) * len(docs) // shards]
        )
    return texts, str(root / "*.parquet")


def _run(engine_type: str, inputs: str, out: Path, **dedup):
    # One local worker runs the tasks in this process (a local pool costs ~1.5 s per resolve
    # step); Spark and Ray run them in other processes, which also proves the tasks pickle.
    workers = 1 if engine_type == "local" else 2
    config = validate_pipeline(
        {
            "name": "fuzzy",
            "output": str(out),
            "progress": False,
            "engine": {"type": engine_type, "workers": workers},
            "input": {"type": "parquet", "paths": [inputs]},
            "stages": [{"type": "fuzzy_dedup", "partitions": 4, **dedup}],
        }
    )
    engine = make_engine(engine_type, workers)
    try:
        result = run_pipeline(config, engine)
    finally:
        engine.close()
    kept = {d.id: d for d in iter_output(result.output)}
    return kept, next(s for s in result.stages if s.name == "fuzzy_dedup")


@pytest.mark.slow
def test_local_spark_and_ray_remove_the_same_documents(corpus, tmp_path):
    texts, inputs = corpus
    results = {e: _run(e, inputs, tmp_path / e, keep="earliest") for e in ("local", "spark", "ray")}
    local_kept, local_stats = results["local"]
    removed = {i for i in range(len(texts)) if f"doc-{i:04d}" not in local_kept}
    truth = exact_removed(
        texts, "char", 24, 0.8, rank=[i % 28 + i / 1e6 for i in range(len(texts))]
    )  # earliest date, then input order
    precision, recall = precision_recall(removed, truth)
    assert precision >= 0.95 and recall >= 0.9 and len(truth) >= 15, (precision, recall)
    for engine in ("spark", "ray"):
        kept, stats = results[engine]
        assert set(kept) == set(local_kept), engine
        assert {i: d.annotations.get("cluster_id") for i, d in kept.items()} == {
            i: d.annotations.get("cluster_id") for i, d in local_kept.items()
        }
        for key in ("clusters", "docs_removed", "bytes_removed", "cluster_size_histogram", "candidate_pairs"):
            assert stats.extra[key] == local_stats.extra[key], (engine, key)
        assert stats.balanced and stats.dropped == local_stats.dropped
    # Spark computed the components with DataFrame rounds (spark_components), the others with
    # file-shuffle reduce tasks; every run's report shows the dedup figures.
    cc = lambda e: tmp_path / e / "_work" / "global" / "fuzzy_dedup" / "cc"
    assert (cc("spark") / "spark-round-001.done.json").exists() and not (cc("spark") / "round-000").exists()
    assert (cc("local") / "round-001" / "large.done.json").exists() and not (cc("local") / "spark-round-000").exists()
    report = (tmp_path / "local" / "report.html").read_text()
    for figure in ("clusters", "docs_removed", "bytes_removed", "cluster_size_histogram", "fuzzy_duplicate"):
        assert figure in report, figure
    assert local_stats.extra["docs_removed"] == len(removed) == local_stats.dropped["fuzzy_duplicate"]
    assert sum(local_stats.extra["cluster_size_histogram"].values()) == local_stats.extra["clusters"]
