"""Airflow DAGs: every file imports cleanly, and each DAG runs end to end under `dag.test()`.

Airflow reads AIRFLOW_HOME and configures logging and its ORM at import, so it runs in a
subprocess with a throw-away home and a sqlite metadata DB; this test process stays clean.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document

pytestmark = pytest.mark.slow

DAGS = Path(__file__).resolve().parents[2] / "dags"
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

SCRIPT = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    bag = DagBag(dag_folder=sys.argv[1])
    out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dag_ids": sorted(bag.dag_ids)}
    if len(sys.argv) > 2:
        initdb()
        for dag_id, conf in json.loads(sys.argv[2]).items():
            run = bag.get_dag(dag_id).test(run_conf=conf)
            out[dag_id] = {"state": str(run.state),
                           "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
    print("RESULT " + json.dumps(out))
""")


def _airflow(tmp_path: Path, *args: str) -> dict:
    home = tmp_path / "airflow_home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "CORPUSFORGE_PROGRESS": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(DAGS), *args], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _mixture_conf(tmp_path: Path) -> dict:
    """A one-phase blend over real GSM8K problems, small enough to tokenize in a second."""
    rows = [json.loads(line) for line in (DATA / "benchmarks" / "gsm8k" / "train.jsonl").read_text().splitlines()[:300]]
    docs = [Document(f"g{i}", f"Question: {r['question']}\nAnswer: {r['answer']}", "math") for i, r in enumerate(rows)]
    storage.write_documents(str(tmp_path / "math" / "data" / "0.parquet"), docs)
    blend = tmp_path / "blend.yaml"
    blend.write_text(
        yaml.safe_dump(
            {
                "name": "dag-mix",
                "output": str(tmp_path / "ignored-mix"),
                "seed": 1,
                "token_budget": 8000,
                "shard_tokens": 4000,
                "engine": {"type": "local", "workers": 1},
                "progress": False,
                "tokenizer": {"train_vocab_size": 600, "train_sample_docs": 300},
                "sources": {"math": {"paths": [str(tmp_path / "math")], "max_epochs": 2}},
                "phases": [{"name": "only", "fraction": 1.0, "weights": {"math": 1.0}}],
            }
        )
    )
    return {"blend": str(blend), "engine": "local", "output": str(tmp_path / "mix"), "overrides": []}


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory) -> tuple[dict, Path]:
    """One Airflow subprocess (importing Airflow costs ~15 s): parse every DAG, then test each one."""
    tmp_path = tmp_path_factory.mktemp("dags")
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    docs = [Document(f"d{i}", "Same text, again." if i % 3 == 0 else f"text about {words[i]}") for i in range(9)]
    storage.write_documents(str(tmp_path / "in" / "0.parquet"), docs[:5])
    storage.write_documents(str(tmp_path / "in" / "1.parquet"), docs[5:])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "name": "dag-test",
                "output": str(tmp_path / "ignored"),
                "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
                "stages": [{"type": "exact_dedup", "buckets": 2}],
            }
        )
    )
    out = tmp_path / "out"
    conf = {"pipeline": str(pipeline), "engine": "local", "output": str(out), "overrides": ["engine.workers=1"]}
    confs = {"corpusforge_web_corpus": conf, "corpusforge_mixture": _mixture_conf(tmp_path)}
    return _airflow(tmp_path, json.dumps(confs)), tmp_path


def test_every_dag_file_imports_without_errors(dag_run):
    result, _ = dag_run
    assert result["import_errors"] == {}
    assert "corpusforge_web_corpus" in result["dag_ids"]
    assert len(result["dag_ids"]) == len(list(DAGS.glob("*.py")))


def _assert_succeeded(result: dict, dag_id: str, *tasks: str) -> None:
    run = result[dag_id]
    assert run["state"] == "success", result
    assert run["tasks"] == {"validate": "success", **{t: "success" for t in tasks}, "summarise": "success"}


def test_web_dag_runs_a_pipeline_under_dag_test(dag_run):
    result, tmp_path = dag_run
    _assert_succeeded(result, "corpusforge_web_corpus", "run")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    dedup = next(s for s in stats["stages"] if s["name"] == "exact_dedup")
    assert (dedup["docs_in"], dedup["docs_out"], dedup["dropped"]) == (9, 7, {"exact_duplicate": 2})
    assert not (tmp_path / "ignored").exists()  # the DAG's `output` param overrides the YAML's


def test_mixture_dag_writes_shards_megatron_reads_under_dag_test(dag_run):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    result, tmp_path = dag_run
    _assert_succeeded(result, "corpusforge_mixture", "mix")
    manifest = json.loads((tmp_path / "mix" / "mix_manifest.json").read_text())
    shards = sorted((tmp_path / "mix" / "only").glob("*.bin"))
    assert len(shards) >= 2 and not (tmp_path / "ignored-mix").exists()
    datasets = [IndexedDataset(str(p.with_suffix(""))) for p in shards]  # alive while their mmaps are read
    tokens = sum(int(ds.sequence_lengths.sum()) for ds in datasets)
    assert tokens == manifest["phases"][0]["tokens"] and abs(tokens - 8000) < 400  # the budget, to a document
