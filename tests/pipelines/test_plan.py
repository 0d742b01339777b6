"""The plan API an orchestrator schedules unit by unit gives what `run_pipeline` gives in one call."""

import json

import pytest

from corpusforge.core import storage
from corpusforge.core.config import ConfigError
from corpusforge.core.document import Document
from corpusforge.pipelines import plan
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import load_pipeline, validate_pipeline

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
]


def _config(tmp_path, out: str) -> dict:
    for s in range(3):
        docs = [
            Document(f"s{s}-{i}", "shared text, again" if i == 0 else f"about {WORDS[5 * s + i]} and more")
            for i in range(5)
        ]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    return {
        "name": "plan",
        "output": str(tmp_path / out),
        "engine": {"type": "local", "workers": 1, "shuffle_buckets": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "exact_dedup", "buckets": 2}, {"type": "fuzzy_dedup"}],
    }


def test_shape_of_the_web_pipeline_is_known_from_its_yaml():
    shape = plan.describe(load_pipeline("pipelines/configs/web.yaml"))
    assert [(s.stages[0], s.stages[-1], s.resolves) for s in shape.segments] == [
        ("warc", "exact_dedup", "exact_dedup"),
        ("exact_dedup", "fuzzy_dedup", "fuzzy_dedup"),
        ("fuzzy_dedup", "fuzzy_dedup", None),
    ]
    assert shape.global_steps == ["exact_dedup", "fuzzy_dedup"] and shape.prepares == []
    assert plan.describe(load_pipeline("pipelines/configs/score.yaml")).prepares == ["decontaminate"]


def test_units_one_by_one_equal_run_pipeline(tmp_path):
    reference = run_pipeline(validate_pipeline(_config(tmp_path, "ref")))
    cfg = validate_pipeline(_config(tmp_path, "units"))
    shape = plan.describe(cfg)
    shards = plan.plan_run(cfg)
    assert [s.label for s in shards] == ["00000 0.parquet", "00001 1.parquet", "00002 2.parquet"]
    config = cfg.model_dump(mode="json")
    for seg in shape.segments:
        outcomes = [plan.run_shard(config, seg.index, s) for s in shards]
        assert all(o.ran for o in outcomes)
        if seg.resolves:
            plan.resolve(config, seg.resolves, shards)
    # a retried or cleared unit finds its commit and does nothing
    assert not any(plan.run_shard(config, seg.index, s).ran for seg in shape.segments for s in shards)
    result = plan.finalize(config, shards, started=0.0, engine="airflow")
    assert sorted(d.id for d in iter_output(result.output)) == sorted(d.id for d in iter_output(reference.output))
    stats = json.loads(storage.read_text(result.stats_path))
    assert stats["engine"] == "airflow" and stats["balanced"]
    assert [(s.name, s.docs_in, s.docs_out, dict(s.dropped)) for s in result.stages] == [
        (s.name, s.docs_in, s.docs_out, dict(s.dropped)) for s in reference.stages
    ]


def test_a_config_whose_global_steps_changed_is_refused(tmp_path):
    cfg = validate_pipeline(_config(tmp_path, "x"))
    built_for = plan.describe(cfg).to_json()
    changed = validate_pipeline({**_config(tmp_path, "x"), "stages": [{"type": "exact_dedup"}]})
    plan.check_shape(cfg, built_for)
    with pytest.raises(ConfigError, match="the DAG was built for"):
        plan.check_shape(changed, built_for)


def test_preparing_a_stage_returns_the_config_that_points_at_its_index(tmp_path):
    eval_items = tmp_path / "gsm8k.jsonl"
    eval_items.write_text(
        json.dumps(
            {
                "question": "How many apples does Tom have if he buys seven more apples "
                "than the three he had yesterday morning?",
                "answer": "10",
            }
        )
        + "\n"
    )
    data = _config(tmp_path, "dc")
    data["stages"] = [{"type": "decontaminate", "benchmarks": [{"name": "gsm8k", "path": str(eval_items)}]}]
    cfg = validate_pipeline(data)
    config = plan.prepare_stage(cfg.model_dump(mode="json"), "decontaminate")
    index = config["stages"][0]["index_path"]
    assert index.startswith(str(tmp_path / "dc" / "_work")) and storage.exists(index)
    with pytest.raises(ConfigError, match="no stage named"):
        plan.prepare_stage(config, "exact_dedup")
