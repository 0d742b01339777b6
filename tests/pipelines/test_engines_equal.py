"""One pipeline on local, Spark and Ray: identical documents per task and identical ledgers.

The web pipeline over the demo WARC sample (every web stage, both global dedup steps), and a
GSM8K-based corpus with planted copies for exact dedup's shuffle across more shards.
"""

import json
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.web import write_sample

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


# The shipped web pipeline's stages, so a stage added there is held to engine equality too.
WEB_YAML = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "web.yaml"


def _run(tmp_path: Path, engine, reader: dict, stages: list[dict]):
    config = validate_pipeline(
        {
            "name": "equal",
            "output": str(tmp_path / engine.name),
            "engine": {"type": engine.name, "workers": 2, "shuffle_buckets": 4},
            "input": reader,
            "stages": stages,
        }
    )
    result = run_pipeline(config, engine=engine)
    per_task = {
        Path(p).name: sorted(
            (d.id, d.text, repr(sorted(d.meta.items())), repr(sorted(d.annotations.items())))
            for d in storage.read_documents(p)
        )
        for p in storage.expand([storage.join(result.data_dir, "*.parquet")])
    }
    ledger = [
        (
            s.name,
            s.docs_in,
            s.docs_out,
            s.bytes_in,
            s.bytes_out,
            dict(s.dropped),
            {k: v for k, v in s.extra.items() if not k.endswith("seconds")},
        )
        for s in result.stages
    ]
    return per_task, ledger


def _same_on_every_engine(tmp_path: Path, engines, reader: dict, stages: list[dict]):
    local_docs, local_ledger = _run(tmp_path / "local", LocalEngine(workers=2), reader, stages)
    for engine in engines:
        docs, ledger = _run(tmp_path / engine.name, engine, reader, stages)
        assert docs == local_docs, engine.name
        assert ledger == local_ledger, engine.name
    return local_docs, {s[0]: s for s in local_ledger}


def test_web_pipeline_is_identical_on_local_spark_and_ray(tmp_path, spark_engine, ray_engine):
    write_sample(str(tmp_path / "warc"), seed=0)
    reader = {"type": "warc", "paths": [str(tmp_path / "warc" / "*.warc.gz")]}
    stages = yaml.safe_load(WEB_YAML.read_text())["stages"]
    assert {"exact_dedup", "fuzzy_dedup"} <= {s["type"] for s in stages}
    docs, ledger = _same_on_every_engine(tmp_path, (spark_engine, ray_engine), reader, stages)
    assert len(docs) > 1  # several tasks, so the global steps cross shards
    # the sample plants exact and near copies: both dedup steps must have had work on every engine
    assert ledger["exact_dedup"][5].get("exact_duplicate", 0) > 0
    assert ledger["fuzzy_dedup"][5].get("fuzzy_duplicate", 0) > 0
    assert sum(len(v) for v in docs.values()) == ledger[stages[-1].get("name") or stages[-1]["type"]][2] > 50


def test_exact_dedup_shuffle_is_identical_on_local_spark_and_ray(tmp_path, spark_engine, ray_engine):
    reader = {"type": "parquet", "paths": [_write_inputs(tmp_path)]}
    docs, ledger = _same_on_every_engine(
        tmp_path, (spark_engine, ray_engine), reader, [{"type": "exact_dedup", "buckets": 4}]
    )
    dedup = ledger["exact_dedup"]
    assert dedup[5].get("exact_duplicate", 0) >= 4 * (8 + 6)  # the planted copies, at least
    assert sum(len(v) for v in docs.values()) == dedup[2]
