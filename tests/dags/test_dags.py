"""Airflow DAGs under `dag.test()`: every file imports, the lanes run one mapped task per shard per segment on the
demo sample, assets trigger their consumers, a crashed shard retries alone on S3, the ablation study resumes an
interrupted proxy, the synthetic DAG waits for the LLM endpoint, and spark-submit runs a lane.

One Airflow subprocess (tests/dags/airflow_session.py) runs the whole session: Airflow configures logging and its
ORM at import, so it gets a throw-away home and sqlite DB, a working directory holding the sample, connections
from AIRFLOW_CONN_* variables (the S3 keys exist only there) and a real S3-API server on loopback.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from corpusforge.core.document import Document

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SESSION = Path(__file__).resolve().parent / "airflow_session.py"
LLM_KEY = "sk-test-key"
LLM_READY_AFTER = 4  # health requests answered 503 before the stub server is "loaded"


STUB_REPLY = (
    "Here is a paraphrased version of the text:\nQuestion: What does the page explain? Answer: The page "
    "explains how the river valley formed over many thousands of years, why the soil there is rich, and how "
    "the farmers who live nearby grow wheat and barley in the fertile fields every summer."
)


class _LLMStub(BaseHTTPRequestHandler):
    """An OpenAI-compatible server whose health check answers once its model has 'loaded'; one canned reply to every
    chat request. Records each request's path, key, status and model."""

    seen: list[tuple[str, str, int, str]] = []

    def do_GET(self):
        ready = len(self.seen) >= LLM_READY_AFTER
        status = 200 if ready and self.path in ("/health", "/v1/models") else 503
        self._answer(status, {"data": [{"id": "stub-model"}]} if status == 200 else {"error": "loading"}, "")

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        reply = {
            "id": "stub",
            "object": "chat.completion",
            "model": request.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": STUB_REPLY}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 60, "total_tokens": 160},
        }
        self._answer(200 if self.path == "/v1/chat/completions" else 404, reply, request.get("model", ""))

    def _answer(self, status: int, payload: dict, model: str) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", ""), status, model))
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


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
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def _shard_docs(shard: int) -> list[Document]:
    """Six documents; two in each shard (i = 0, 3) share one text, so exact dedup keeps one of them overall."""
    return [
        Document(f"s{shard}-{i}", "the same page, again" if i % 3 == 0 else f"a page about {WORDS[6 * shard + i]}")
        for i in range(6)
    ]


def _dag_file(dag_id: str, body: str) -> str:
    return f'"""Test DAG {dag_id} (airflow dag)."""\nfrom datetime import timedelta\n\n{body}\n'


@pytest.fixture(scope="module")
def session(tmp_path_factory, _moto_endpoint) -> dict:
    from corpusforge.core import storage
    from corpusforge.samples.code import write_code_sample
    from corpusforge.samples.math import write_math_sample, write_math_sample_evals
    from corpusforge.samples.web import write_sample, write_sample_evals

    root = tmp_path_factory.mktemp("airflow")
    work = root / "work"
    write_sample(str(work / "sample" / "warc"))  # what `corpusforge sample sample` writes
    write_sample_evals(str(work / "sample" / "eval"))
    math_warcs = write_math_sample(str(work / "sample" / "warc"))
    write_math_sample_evals(str(work / "sample" / "eval"))
    write_code_sample(str(work / "sample" / "code"))
    code_repos = sorted(str(p) for p in (work / "sample" / "code" / "repos").iterdir())[:4]
    bucket = f"s3://corpusforge-dags-{os.getpid()}"
    s3_env = {
        "CORPUSFORGE_S3_ENDPOINT": _moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in s3_env.items():
            mp.setenv(k, v)
        storage.makedirs(bucket)
        for s in range(3):
            storage.write_documents(f"{bucket}/in/{s}.parquet", _shard_docs(s))

    crash_yaml = root / "crash.yaml"
    crash_yaml.write_text(
        yaml.safe_dump(
            {
                "name": "crash-once",
                "output": str(root / "unused"),
                "input": {"type": "parquet", "paths": ["unused"]},
                "stages": [
                    {"type": "crash_once:CrashOnce", "crash_at": "s1-4", "marker": str(root / "crashed")},
                    {"type": "exact_dedup", "buckets": 2},
                ],
                "engine": {"type": "local", "workers": 1},
            }
        )
    )
    lite_yaml = root / "web-lite.yaml"
    lite_yaml.write_text(
        yaml.safe_dump(
            {
                "name": "web-lite",
                "output": str(root / "unused"),
                "input": {"type": "warc", "paths": [str(work / "sample" / "warc" / "*.warc.gz")]},
                "stages": [{"type": "extract", "extractor": "resiliparse"}, {"type": "exact_dedup", "buckets": 2}],
                "engine": {"type": "local", "workers": 1, "shuffle_buckets": 2},
            }
        )
    )
    dags = root / "dags"
    shutil.copytree(DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "test_crash_once.py").write_text(
        _dag_file(
            "test_crash_once",
            (
                "from corpusforge.pipelines.airflow.corpus import corpus_dag\n\n"
                f"dag = corpus_dag({str(crash_yaml)!r}, dag_id='test_crash_once', asset_name='test-crash-once',\n"
                "                 default_args={'retries': 1, 'retry_delay': timedelta(0)})"
            ),
        )
    )
    # The rephrasing DAG waits for the LLM endpoint every 0.2 s instead of every 30 s.
    rephrase = dags / "synthetic.py"
    rephrase.write_text(
        rephrase.read_text().replace(
            "lane_dags(SYNTHETIC_PIPELINES)", "lane_dags(SYNTHETIC_PIPELINES, llm_poll_seconds=0.2)"
        )
    )

    (dags / "test_spark_submit.py").write_text(
        _dag_file(
            "test_spark_submit",
            (
                "from corpusforge.pipelines.airflow.spark import spark_submit_dag\n\n"
                f"dag = spark_submit_dag({str(lite_yaml)!r}, dag_id='test_spark_submit', asset_name='test-web-lite')"
            ),
        )
    )

    _LLMStub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LLMStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = root / "airflow_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CORPUSFORGE_S3", "AIRFLOW"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "CORPUSFORGE_PROGRESS": "0",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(SESSION.parent), env.get("PYTHONPATH", "")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": _moto_endpoint, "region_name": "us-east-1"},
                }
            ),
            "AIRFLOW_CONN_CORPUSFORGE_LLM": json.dumps(
                {
                    "conn_type": "http",
                    "host": "127.0.0.1",
                    "port": server.server_address[1],
                    "password": LLM_KEY,
                    "extra": {"model": "stub-model"},
                }
            ),
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        }
    )
    args = {
        "real_dags": str(DAGS),
        "dags": str(dags),
        "s3": bucket,
        "code_inputs": code_repos,
        "math_inputs": [str(Path(p).resolve()) for p in math_warcs],
    }
    try:
        proc = subprocess.run(
            [sys.executable, str(SESSION), json.dumps(args)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        server.shutdown()
    (root / "session.log").write_text(proc.stdout + proc.stderr)  # the whole Airflow log, when a test fails
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-5000:] + proc.stderr[-5000:]
    return {
        "result": json.loads(lines[-1][len("RESULT ") :]),
        "work": work,
        "root": root,
        "s3": bucket,
        "s3_env": s3_env,
        "llm": list(_LLMStub.seen),
        "lite_yaml": lite_yaml,
        "args": args,
    }


def _s3_documents(session: dict, prefix: str) -> list[str]:
    from corpusforge.pipelines.runner import iter_output

    with pytest.MonkeyPatch.context() as mp:
        for k, v in session["s3_env"].items():
            mp.setenv(k, v)
        return sorted(d.id for d in iter_output(f"{session['s3']}/{prefix}"))


def _tasks(run: dict, task: str) -> list[dict]:
    return [t for t in run["tasks"] if t["task"] == task]


def _present(name: str) -> bool:
    return (REPO / "pipelines" / "configs" / f"{name}.yaml").is_file()


def test_every_dag_file_imports_and_absent_lanes_have_no_dag(session):
    result = session["result"]
    assert result["import_errors"] == {}
    expected = {"corpusforge_web", "corpusforge_mixture", "corpusforge_ablation", "corpusforge_web_spark_submit"}
    expected |= {
        f"corpusforge_{n.replace('-', '_')}"
        for n in (
            "score",
            "code",
            "math",
            "code_repo",
            "math-score",
            "rephrase",
            "sft",
            "rl",
            "math-cleanup",
            "code_pages",
            "code_stack",
        )
        if _present(n)
    }
    expected |= {f"corpusforge_{n}_spark_submit" for n in ("code", "math") if _present(n)}
    assert set(result["dags"]) == expected
    assert result["dags"]["corpusforge_web"]["tasks"] == [
        "plan",
        "seg0_warc_to_exact_dedup",
        "resolve_exact_dedup",
        "seg1_exact_dedup_to_fuzzy_dedup",
        "resolve_fuzzy_dedup",
        "seg2_fuzzy_dedup",
        "finalize",
    ]
    assert result["dags"]["corpusforge_score"]["tasks"] == [
        "plan",
        "prepare_decontaminate",
        "seg0_parquet_to_decontaminate",
        "finalize",
    ]


def test_web_lane_runs_one_mapped_task_per_shard_per_segment(session):
    web, work = session["result"]["web"], session["work"]
    assert web["state"] == "success", web
    warcs = sorted(p.name for p in (work / "sample" / "warc").glob("*.warc.gz"))
    assert len(warcs) == 6  # the web sample's four and two of math pages
    for seg in ("seg0_warc_to_exact_dedup", "seg1_exact_dedup_to_fuzzy_dedup", "seg2_fuzzy_dedup"):
        shards = _tasks(web, seg)
        assert [t["map"] for t in shards] == list(range(6))
        assert [t["label"] for t in shards] == [f"{i:05d} {name}" for i, name in enumerate(warcs)]
        assert all(t["state"] == "success" and t["try"] == 1 and t["result"]["ran"] for t in shards)
    stats = json.loads((work / "runs" / "web" / "stats.json").read_text())
    assert stats["balanced"] and stats["tasks"] == 6 and stats["engine"] == "airflow"
    assert [s["name"] for s in stats["stages"]][-2:] == ["exact_dedup", "fuzzy_dedup"]
    assert "resolve_seconds" in stats["stages"][-1]["extra"]
    kept = stats["stages"][-1]["docs_out"]
    assert 0 < kept < stats["stages"][0]["docs_in"] and len(web["documents"]) == kept
    assert (work / "runs" / "web" / "manifest.json").exists() and (work / "runs" / "web" / "report.html").exists()
    event = web["events"][-1]
    assert event["dag_id"] == "corpusforge_web" and event["task_id"] == "finalize"
    assert event["extra"]["output"] == "runs/web" and event["extra"]["documents"] == kept


@pytest.mark.parametrize("lane", ["code", "math"])
def test_other_lanes_run_per_shard_on_their_sample(session, lane):
    run, work = session["result"][lane], session["work"]
    inputs = session["args"][f"{lane}_inputs"]
    assert run["state"] == "success", run
    tasks = {t["task"] for t in run["tasks"]}
    assert {"plan", "prepare_decontaminate", "resolve_exact_dedup", "resolve_fuzzy_dedup", "finalize"} <= tasks
    segments = sorted(t for t in tasks if t.startswith("seg"))
    assert len(segments) == 3
    for seg in segments:
        shards = _tasks(run, seg)
        assert [t["map"] for t in shards] == list(range(len(inputs)))
        assert all(t["state"] == "success" and t["result"]["ran"] for t in shards)
    stats = json.loads((work / "runs" / lane / "stats.json").read_text())
    assert stats["balanced"] and stats["tasks"] == len(inputs) and stats["engine"] == "airflow"
    assert stats["stages"][-1]["docs_out"] > 0
    downstream = {"code": "corpusforge_code_repo", "math": "corpusforge_math_score"}[lane]
    assert downstream in session["result"]["queued_after_lanes"]


def test_schedules_follow_what_each_yaml_reads(session):
    result = session["result"]
    dags = result["dags"]
    assert "corpusforge/web" in dags["corpusforge_score"]["schedule"]
    assert "corpusforge/score" in dags["corpusforge_mixture"]["schedule"]
    assert "corpusforge/score" in dags["corpusforge_ablation"]["schedule"]
    assert "corpusforge/score" in dags["corpusforge_rephrase"]["schedule"]
    assert "corpusforge/code" in dags["corpusforge_code_repo"]["schedule"]
    assert "asset" not in dags["corpusforge_web"]["schedule"].lower()
    assert result["queued_after_web"] == ["corpusforge_score"]
    on_score = sorted(d for d, v in dags.items() if "corpusforge/score" in v["schedule"])
    assert {"corpusforge_ablation", "corpusforge_mixture", "corpusforge_rephrase"} <= set(on_score)
    assert result["queued_after_score"] == on_score  # every DAG reading the scored web lane, and no other
    score = result["score"]
    assert score["state"] == "success" and score["run_type"] == "asset_triggered", score
    assert [(c["asset"], c["dag_id"]) for c in score["consumed"]] == [("corpusforge/web", "corpusforge_web")]


def test_mixture_dag_runs_when_the_lane_asset_it_blends_is_refreshed(session):
    from corpusforge.mixtures.megatron_writer import read_index

    mix, work = session["result"]["mixture"], session["work"]
    assert mix["state"] == "success" and mix["run_type"] == "asset_triggered", mix
    assert [(c["asset"], c["dag_id"]) for c in mix["consumed"]] == [("corpusforge/score", "corpusforge_score")]
    assert mix["consumed"][0]["extra"]["output"] == "runs/web-scored"
    summary = _tasks(mix, "mix")[0]["result"]
    manifest = json.loads((work / summary["manifest"]).read_text())
    shards = sorted((work / "runs" / "mix" / "demo" / "phase1").glob("*.idx"))
    assert len(shards) > 1
    assert sum(int(read_index(p.read_bytes())[1].sum()) for p in shards) == manifest["phases"][0]["tokens"]
    event = mix["events"][-1]["extra"]
    assert event["manifest"] == summary["manifest"] and event["tokens"] == manifest["tokens"]
    assert [b["dag_id"] for b in event["blended"]] == ["corpusforge_score"]


def test_ablation_dag_trains_proxies_in_the_pool_and_resumes_an_interrupted_one(session):
    """The study trains proxies on the mixture DAG's shards (its two phases as the candidate sources)."""
    study = session["result"]["ablation"]
    assert study["state"] == "success", study
    proxies = _tasks(study, "train_proxy")
    assert [t["map"] for t in proxies] == [0, 1, 2] and study["proxies_planned"] == 3
    assert all(t["label"].startswith(f"proxy {i:03d} phase1=") for i, t in enumerate(proxies))
    assert [t["result"]["resumed_from"] for t in proxies] == [0, study["interrupted_at"], 0]
    assert study["interrupted_at"] == 2
    assert all(t["result"]["steps"] == 6 and t["result"]["device"] == "cpu" for t in proxies)
    summary = _tasks(study, "recommend")[0]["result"]
    assert set(summary["recommended"]) == {"phase1", "phase2"} and summary["proxies"] == 3
    assert abs(sum(summary["recommended"].values()) - 1) < 1e-9
    saved = json.loads(Path(summary["study"]).read_text())
    assert saved["recommended"] == summary["recommended"] and len(saved["target"]) == 3
    assert Path(summary["report"]).exists() and summary["blend"] is None  # shards, not a blend: no blend YAML
    assert study["events"][-1]["extra"]["recommended"] == summary["recommended"]


def test_a_crashed_shard_retries_alone_and_resumes_on_s3(session):
    crash, again = session["result"]["crash"], session["result"]["crash_again"]
    assert crash["state"] == "success", crash
    first = _tasks(crash, "seg0_parquet_to_exact_dedup")
    assert [(t["map"], t["try"]) for t in first] == [(0, 1), (1, 2), (2, 1)]
    assert all(t["result"]["ran"] for t in first)
    assert (session["root"] / "crashed").read_text() == "s1-4"
    # the exact-dedup result: one copy of "the same page, again" (ids s0-0, s0-3, s1-0, ...) survives
    expected = sorted({f"s{s}-{i}" for s in range(3) for i in range(6) if i % 3} | {"s0-0"})
    assert _s3_documents(session, "out") == expected
    assert again["state"] == "success"
    assert not any(t["result"]["ran"] for t in again["tasks"] if t["task"].startswith("seg"))
    assert len(crash["markers"]) == 6 and again["markers"] == crash["markers"]  # no commit was rewritten


def test_rephrase_dag_waits_for_the_llm_endpoint_then_calls_it_with_the_connection_key(session):
    syn, seen, work = session["result"]["synthetic"], session["llm"], session["work"]
    assert syn["state"] == "success", syn
    assert _tasks(syn, "wait_for_llm")[0]["state"] == "success"
    health = [s for s in seen if s[0] in ("/health", "/v1/models")]
    chats = [s for s in seen if s[0] == "/v1/chat/completions"]
    assert [s[2] for s in health[:LLM_READY_AFTER]] == [503] * LLM_READY_AFTER and health[-1][2] == 200
    assert chats and seen.index(health[-1]) < seen.index(chats[0])  # no request before the endpoint was healthy
    assert {s[1] for s in seen} == {f"Bearer {LLM_KEY}"} and {s[3] for s in chats} == {"stub-model"}
    stats = json.loads((work / "runs" / "rephrase" / "stats.json").read_text())
    assert stats["balanced"] and stats["engine"] == "airflow"
    assert next(s for s in stats["stages"] if s["name"] == "nemotron_rephrase")["docs_out"] > 0
    config = json.loads((work / "runs" / "rephrase" / "manifest.json").read_text())["config"]
    backend = config["stages"][0]["backend"]
    assert backend["type"] == "openai" and backend["model"] == "stub-model" and LLM_KEY not in json.dumps(config)


def test_spark_submit_dag_runs_a_pipeline_on_the_spark_connection(session, tmp_path):
    """spark-submit on `local[2]` (the Spark connection) gives the documents and ledger of an in-process local run.

    The lane's own spark-submit DAG is the same factory on web.yaml (it parses above); this runs it on a shorter
    pipeline over one file of the sample so the test stays within its time budget."""
    from corpusforge.pipelines.runner import iter_output, run_pipeline
    from corpusforge.pipelines.schema import load_pipeline

    spark = session["result"]["spark"]
    assert spark["state"] == "success", spark
    assert [t["task"] for t in spark["tasks"]] == ["publish", "spark_submit", "validate"]
    out = session["work"] / "runs" / "web-spark"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["engine"] == "spark" and stats["balanced"] and stats["tasks"] == 1
    local = run_pipeline(
        load_pipeline(
            session["lite_yaml"], [f"output={tmp_path / 'local'}", f"input.paths={json.dumps([spark['input']])}"]
        )
    )
    assert sorted(d.id for d in iter_output(str(out))) == sorted(d.id for d in iter_output(local.output))
    assert [(s["name"], s["docs_in"], s["docs_out"], s["dropped"]) for s in stats["stages"]] == [
        (s.name, s.docs_in, s.docs_out, dict(s.dropped)) for s in local.stages
    ]
    assert _tasks(spark, "publish")[0]["result"]["documents"] == stats["stages"][-1]["docs_out"]
