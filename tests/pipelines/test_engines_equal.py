"""One pipeline on local, Spark and Ray: identical documents per task and identical ledgers."""
import json
from pathlib import Path

import pytest

from corpusforge.core import storage
from corpusforge.core.config import validate_pipeline
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import run_pipeline

pytestmark = pytest.mark.slow

GSM8K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks" / "gsm8k" / "train.jsonl"


def _write_inputs(root: Path, shards: int = 4, per_shard: int = 40) -> str:
    """Real text (GSM8K problems) with exact and near-exact copies planted across shards."""
    lines = GSM8K.read_text().splitlines()[: shards * per_shard]
    texts = [json.loads(x)["question"] + "\n\n" + json.loads(x)["answer"] for x in lines]
    for s in range(shards):
        docs = [Document(f"gsm-{s}-{i:03d}", texts[s * per_shard + i]) for i in range(per_shard)]
        # every 5th problem of the previous shard again, re-cased; every 7th again byte for byte
        prev = (s - 1) % shards
        docs += [Document(f"copy-{s}-{i:03d}", texts[prev * per_shard + i].upper()) for i in range(0, per_shard, 5)]
        docs += [Document(f"copy-{s}-x{i:03d}", texts[prev * per_shard + i]) for i in range(0, per_shard, 7)]
        storage.write_documents(str(root / "in" / f"{s}.parquet"), docs)
    return str(root / "in" / "*.parquet")


def _run(tmp_path: Path, engine, inputs: str):
    config = validate_pipeline({
        "name": "equal", "output": str(tmp_path / engine.name),
        "engine": {"type": engine.name, "workers": 2, "shuffle_buckets": 4},
        "input": {"type": "parquet", "paths": [inputs]},
        "stages": [{"type": "exact_dedup", "buckets": 4}],
    })
    result = run_pipeline(config, engine=engine)
    per_task = {Path(p).name: sorted((d.id, d.text) for d in storage.read_documents(p))
                for p in storage.expand([storage.join(result.data_dir, "*.parquet")])}
    ledger = [(s.name, s.docs_in, s.docs_out, s.bytes_in, s.bytes_out, dict(s.dropped),
               {k: v for k, v in s.extra.items() if not k.endswith("seconds")}) for s in result.stages]
    return per_task, ledger


def test_local_spark_and_ray_produce_the_same_corpus_and_ledger(tmp_path, spark_engine, ray_engine):
    inputs = _write_inputs(tmp_path)
    local_docs, local_ledger = _run(tmp_path, LocalEngine(workers=2), inputs)
    dedup = next(s for s in local_ledger if s[0] == "exact_dedup")
    assert dedup[5].get("exact_duplicate", 0) >= 4 * (8 + 6)  # the planted copies, at least
    assert sum(len(v) for v in local_docs.values()) == dedup[2]
    for engine in (spark_engine, ray_engine):
        docs, ledger = _run(tmp_path, engine, inputs)
        assert docs == local_docs, engine.name
        assert ledger == local_ledger, engine.name
