"""Airflow DAG: run a corpusforge pipeline (the web pipeline by default) and summarise its ledger.

Thin by design: every task calls the corpusforge library. Tasks are idempotent (the runner
skips committed shards and resolved global steps), so a retry or a cleared task resumes the
run instead of redoing it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

DEFAULT_PIPELINE = "corpusforge:pipelines/configs/web.yaml"


def _pipeline_path(path: str) -> str:
    # "corpusforge:<relative path>" names a config shipped inside the package.
    if path.startswith("corpusforge:"):
        from importlib import resources

        rel = path.split(":", 1)[1].removeprefix("pipelines/")
        return str(resources.files("corpusforge.pipelines").joinpath(rel))
    return path


@dag(
    dag_id="corpusforge_web_corpus",
    schedule=None,
    catchup=False,
    tags=["corpusforge"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "pipeline": Param(DEFAULT_PIPELINE, type="string", description="Pipeline YAML (path, or corpusforge:<path>)"),
        "engine": Param("local", enum=["local", "spark", "ray"], description="Engine that runs the tasks"),
        "output": Param("", type="string", description="Output prefix (local path or s3://); empty keeps the YAML's"),
        "overrides": Param([], type="array", description="key.sub=value settings, as `corpusforge run --set`"),
    },
    doc_md=__doc__,
)
def corpusforge_web_corpus():
    @task
    def validate(params: dict | None = None) -> dict:
        """Load the YAML with the run's overrides; fails before any work if a setting is wrong."""
        from corpusforge.pipelines.schema import load_pipeline

        overrides = list(params["overrides"]) + [f"engine.type={params['engine']}"]
        if params["output"]:
            overrides.append(f"output={params['output']}")
        return load_pipeline(_pipeline_path(params["pipeline"]), overrides).model_dump(mode="json")

    @task(execution_timeout=timedelta(hours=24))
    def run(config: dict) -> str:
        """Run or resume the pipeline; returns its output prefix."""
        from corpusforge.pipelines.runner import run_pipeline
        from corpusforge.pipelines.schema import validate_pipeline

        return run_pipeline(validate_pipeline(config)).output

    @task
    def summarise(output: str) -> dict:
        """Per-stage documents in/out and drops from the run's stats.json."""
        import json

        from corpusforge.core import storage

        stats = json.loads(storage.read_text(storage.join(output, "stats.json")))
        if not stats["balanced"]:
            raise ValueError(f"{output}: ledger does not balance (docs_in != docs_out + dropped)")
        return {
            "output": output,
            "engine": stats["engine"],
            "stages": {
                s["name"]: {"in": s["docs_in"], "out": s["docs_out"], "dropped": s["dropped"]} for s in stats["stages"]
            },
        }

    summarise(run(validate()))


corpusforge_web_corpus()
