"""A pipeline YAML run by `spark-submit` (the Spark provider's SparkSubmitOperator) instead of per-shard tasks.

Spark then schedules and retries the shards inside one Airflow task; `corpusforge run --engine spark` is the
application, on the master of the Spark connection (`spark_default`: `local[4]`, `spark://host:7077`, `yarn`,
`k8s://...`). Storage keys come from the aws connection as the job's environment, never from the DAG file.
The run publishes the same asset as the per-shard DAG of that pipeline, so its consumers run either way.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, BaseHook, Param, get_current_context, task

from corpusforge.pipelines.airflow.catalog import packaged, pipeline_asset, pipeline_yaml
from corpusforge.pipelines.airflow.connections import DEFAULT_AWS_CONN, environment, storage_env
from corpusforge.pipelines.airflow.corpus import DEFAULT_ARGS, run_config, run_params


def spark_master(conn_id: str) -> str:
    """The master URL of a Spark connection, read as the Spark provider's hook reads it."""
    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type == "spark" and conn.host and ("://" in conn.host or not conn.port):
        master = conn.host
    else:
        master = f"{conn.conn_type}://{conn.host or ''}"
    return f"{master}:{conn.port}" if conn.port else master


class CorpusforgeSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator running `corpusforge run`: the engine's master is the connection's, and the job's
    environment carries the storage keys of the aws connection, resolved when the task runs."""

    template_fields = (*SparkSubmitOperator.template_fields, "aws_conn_id")

    def __init__(
        self,
        *,
        conn_id: str = "spark_default",
        aws_conn_id: str = DEFAULT_AWS_CONN,
        conf: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        # Spark's INFO lines would bury the run's own in the task log.
        super().__init__(conn_id=conn_id, conf={"spark.log.level": "WARN", **(conf or {})}, **kwargs)
        self.spark_conn_id, self.aws_conn_id = conn_id, aws_conn_id

    def execute(self, context) -> None:
        master = spark_master(self.spark_conn_id)
        self.application_args = [*(self.application_args or []), "--set", f"engine.address={master}"]
        # The driver runs on this worker (client mode): it needs this interpreter, where corpusforge is installed.
        self.env_vars = {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            **(self.env_vars or {}),
            **storage_env(self.aws_conn_id),
        }
        super().execute(context)


def cli_entry() -> str:
    """The file spark-submit runs: corpusforge's command line."""
    spec = importlib.util.find_spec("corpusforge.cli.__main__")
    if spec is None or spec.origin is None:
        raise RuntimeError("corpusforge.cli is not importable on this worker")
    return spec.origin


def spark_submit_dag(
    pipeline: str,
    *,
    dag_id: str | None = None,
    asset_name: str | None = None,
    spark_conn_id: str = "spark_default",
    default_args: dict[str, Any] | None = None,
) -> DAG:
    """The spark-submit DAG of one pipeline YAML: validate, submit, publish the pipeline's asset."""
    path = packaged(pipeline)
    name = asset_name or Path(path).stem
    asset = pipeline_asset(name)
    params = {
        "input": Param([], type="array", description="Input paths or globs (local or s3://); empty keeps the YAML's"),
        "output": Param("", type="string", description="Output prefix (local path or s3://); empty keeps the YAML's"),
        "overrides": Param([], type="array", description="key.sub=value settings, as `corpusforge run --set`"),
        "aws_conn_id": Param(DEFAULT_AWS_CONN, type="string", description="Airflow connection with the S3 keys"),
    }
    with DAG(
        dag_id=dag_id or f"corpusforge_{name.replace('-', '_')}_spark_submit",
        schedule=None,
        catchup=False,
        params=params,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, **(default_args or {})},
        tags=["corpusforge", "spark"],
        doc_md=__doc__,
    ) as dag:

        @task
        def validate() -> list[str]:
            """The YAML with the run's params, checked before anything is submitted; returns the application args."""
            params = run_params()
            cfg = run_config(path, {**params, "engine": "spark"})
            args = ["run", path, "--engine", "spark", "--set", f"output={cfg.output}"]
            if params.get("input"):
                args += ["--set", f"input.paths={json.dumps(list(params['input']))}"]
            for item in params.get("overrides") or []:
                args += ["--set", item]
            return args

        args: Any = validate()
        submit = CorpusforgeSparkSubmitOperator(
            task_id="spark_submit",
            application=cli_entry(),
            conn_id=spark_conn_id,
            name=f"corpusforge-{name}",
            application_args=args,
            aws_conn_id="{{ params.aws_conn_id }}",
        )

        @task(outlets=[asset])
        def publish(args: list[str]) -> dict:
            """Read the run's stats.json and publish the pipeline's asset."""
            from corpusforge.core import storage

            params = run_params()
            output = next(a.split("=", 1)[1] for a in args if a.startswith("output="))
            with environment(storage_env(params["aws_conn_id"])):
                stats = json.loads(storage.read_text(storage.join(output, "stats.json")))
            if not stats["balanced"]:
                raise ValueError(f"{output}: ledger does not balance (docs_in != docs_out + dropped)")
            kept = stats["stages"][-1]["docs_out"] if stats["stages"] else 0
            get_current_context()["outlet_events"][asset].extra = {
                "output": output,
                "documents": kept,
                "engine": stats["engine"],
                "tasks": stats["tasks"],
            }
            return {"output": output, "documents": kept, "engine": stats["engine"]}

        submit >> publish(args)
    return dag


def spark_submit_dags(names: tuple[str, ...]) -> dict[str, DAG]:
    """A spark-submit DAG for every named packaged pipeline whose YAML is present."""
    dags = [spark_submit_dag(path) for path in (pipeline_yaml(n) for n in names) if path]
    return {d.dag_id: d for d in dags}
