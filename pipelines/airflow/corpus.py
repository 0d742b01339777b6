"""A pipeline YAML as an Airflow DAG: one mapped task per input shard per segment, global steps as their own tasks.

For `web.yaml` (exact and fuzzy dedup are global steps) the grid reads, left to right:

    plan -> seg0_warc_to_exact_dedup [4 shards] -> resolve_exact_dedup -> seg1_exact_dedup_to_fuzzy_dedup [4]
         -> resolve_fuzzy_dedup -> seg2_fuzzy_dedup [4] -> finalize (stats.json, manifest.json, report.html)

Each mapped task instance is one shard (labelled `<task id> <file name>`); it commits its output and ledger like a
runner task, so a failed shard retries alone, and clearing any task reruns only what has not committed. A stage
with a `before_run` (the decontamination index) gets a `prepare_<stage>` task before the first segment. `finalize`
publishes the pipeline's asset, whose event says where the run wrote (`output`) and what it kept.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from corpusforge.pipelines.airflow.catalog import (
    CORPUS_PIPELINES,
    LLM_PIPELINES,
    SYNTHETIC_PIPELINES,
    asset_schedule,
    packaged,
    pipeline_asset,
    pipeline_yaml,
    upstream_assets,
)
from corpusforge.pipelines.airflow.connections import (
    DEFAULT_AWS_CONN,
    DEFAULT_LLM_CONN,
    environment,
    llm_endpoint,
    point_at_endpoint,
    storage_env,
)
from corpusforge.pipelines.plan import PipelineShape, Shard, describe
from corpusforge.pipelines.schema import PipelineConfig, load_pipeline

DEFAULT_ARGS: dict[str, Any] = {"retries": 2, "retry_delay": timedelta(minutes=1)}
DERIVED = "derived"  # schedule: on the assets of the named pipelines this one reads (catalog.upstream_assets)


def run_params() -> dict[str, Any]:
    """The params of the DAG run the current task belongs to."""
    return dict(get_current_context()["params"])


def run_config(pipeline: str, params: dict[str, Any]) -> PipelineConfig:
    """The YAML with a run's params applied: input paths, output, resolve engine and `--set` overrides."""
    overrides = [f"engine.type={params['engine']}"]
    if params.get("input"):
        overrides.append(f"input.paths={json.dumps(list(params['input']))}")
    if params.get("output"):
        overrides.append(f"output={params['output']}")
    overrides += list(params.get("overrides") or [])
    config = load_pipeline(pipeline, overrides)
    # Inputs the YAML names relative to the repository (seed files the package ships) are found from any worker cwd.
    paths = list(getattr(config.input, "paths", None) or [])
    found = [packaged(p) for p in paths]
    if found != paths and not params.get("input"):
        config = load_pipeline(pipeline, [*overrides, f"input.paths={json.dumps(found)}"])
    return config


@contextlib.contextmanager
def credentials(params: dict[str, Any], config: dict[str, Any], gated: bool) -> Iterator[dict[str, Any]]:
    """While a task runs: storage keys from the aws connection, and (gated DAGs) the LLM endpoint and its key.

    Yields the config with every OpenAI-compatible backend pointed at the connection's endpoint.
    """
    env = storage_env(params.get("aws_conn_id") or DEFAULT_AWS_CONN)
    if gated:
        config, keys = point_at_endpoint(config, llm_endpoint(params.get("llm_conn_id") or DEFAULT_LLM_CONN))
        env.update(keys)
    with environment(env):
        yield config


def corpus_dag(
    pipeline: str | Path,
    *,
    dag_id: str | None = None,
    asset_name: str | None = None,
    schedule: Any = DERIVED,
    default_args: dict[str, Any] | None = None,
    llm_gate: bool = False,
    llm_poll_seconds: float = 30.0,
    tags: tuple[str, ...] = (),
) -> DAG:
    """The DAG of one pipeline YAML (its segments and global steps are read when the DAG file is parsed)."""
    path = packaged(pipeline)
    config = load_pipeline(path)
    shape = describe(config)
    name = asset_name or Path(path).stem
    asset = pipeline_asset(name)
    if schedule == DERIVED:
        schedule = asset_schedule(upstream_assets(getattr(config.input, "paths", None) or [], exclude=name))
    params = {
        "input": Param([], type="array", description="Input paths or globs (local or s3://); empty keeps the YAML's"),
        "output": Param("", type="string", description="Output prefix (local path or s3://); empty keeps the YAML's"),
        "engine": Param(
            config.engine.type,
            enum=["local", "spark", "ray"],
            description="Engine of the global steps' resolve (shards run as Airflow tasks)",
        ),
        "overrides": Param([], type="array", description="key.sub=value settings, as `corpusforge run --set`"),
        "aws_conn_id": Param(DEFAULT_AWS_CONN, type="string", description="Airflow connection with the S3 keys"),
    }
    if llm_gate:
        params["llm_conn_id"] = Param(
            DEFAULT_LLM_CONN, type="string", description="Airflow http connection of the LLM server (key as password)"
        )
    with DAG(
        dag_id=dag_id or f"corpusforge_{name.replace('-', '_')}",
        schedule=schedule,
        catchup=False,
        params=params,
        default_args={**DEFAULT_ARGS, **(default_args or {})},
        tags=["corpusforge", *tags],
        doc_md=_doc(path, shape),
        max_active_runs=1,
    ) as dag:
        _build(path, shape, asset, llm_gate, llm_poll_seconds)
    return dag


def _doc(path: str, shape: PipelineShape) -> str:
    rows = "\n".join(f"| seg{s.index} | {' → '.join(s.stages)} | {s.resolves or ''} |" for s in shape.segments)
    return (
        f"Pipeline `{path}`: one mapped task per input shard per segment; a global step resolves between "
        f"segments.\n\n| segment | stages | then resolves |\n|---|---|---|\n{rows}\n\n"
        "A retried or cleared task reruns only shards whose output has not committed."
    )


def _build(path: str, shape: PipelineShape, asset, gated: bool, poll_seconds: float) -> None:
    expected = shape.to_json()

    @task
    def plan() -> list[dict]:
        """Validate the YAML with the run's params and list the shards (one per input file).

        Returns the shards (what the segments map over); the config and start time go to XComs `config` and
        `started`.
        """
        from corpusforge.pipelines.plan import check_shape, plan_run

        params = run_params()
        cfg = run_config(path, params)
        check_shape(cfg, expected)
        with credentials(params, cfg.model_dump(mode="json"), gated) as config:
            shards = plan_run(cfg)
        ti = get_current_context()["ti"]
        ti.xcom_push(key="config", value=config)
        ti.xcom_push(key="started", value=time.time())
        return [asdict(s) for s in shards]

    @task
    def prepare(config: dict, stage: str) -> dict:
        """The stage's `before_run` (an index is built once, stored under the output); tasks get the config."""
        from corpusforge.pipelines.plan import prepare_stage

        params = run_params()
        with credentials(params, config, gated) as cfg:
            return prepare_stage(cfg, stage)

    @task(map_index_template="{{ shard_label }}")
    def segment(config: dict, index: int, shard: dict) -> dict:
        """One shard through one segment; committed shards (an earlier try or run) return at once."""
        from corpusforge.pipelines.plan import run_shard

        params = run_params()
        one = Shard(**shard)
        get_current_context()["shard_label"] = one.label  # type: ignore[typeddict-unknown-key]
        with credentials(params, config, gated) as cfg:
            return asdict(run_shard(cfg, index, one))

    @task
    def resolve(config: dict, step: str, shards: list[dict]) -> None:
        """The global step's decision over every shard (once: a committed resolve returns at once)."""
        from corpusforge.pipelines.plan import resolve as run_resolve

        params = run_params()
        with credentials(params, config, gated) as cfg:
            run_resolve(cfg, step, [Shard(**s) for s in shards])

    @task(outlets=[asset])
    def finalize(config: dict, shards: list[dict], started: float) -> dict:
        """stats.json, manifest.json and report.html; publishes the output asset with the run's figures."""
        from corpusforge.core import storage
        from corpusforge.pipelines.plan import finalize as run_finalize

        params = run_params()
        with credentials(params, config, gated) as cfg:
            result = run_finalize(cfg, [Shard(**s) for s in shards], started, "airflow")
            stats = json.loads(storage.read_text(result.stats_path))
        if not stats["balanced"]:
            raise ValueError(f"{result.output}: ledger does not balance (docs_in != docs_out + dropped)")
        kept = stats["stages"][-1]["docs_out"] if stats["stages"] else 0
        get_current_context()["outlet_events"][asset].extra = {
            "output": result.output,
            "documents": kept,
            "shards": len(shards),
            "stats": result.stats_path,
            "manifest": result.manifest_path,
            "report": result.report_path,
        }
        return {
            "output": result.output,
            "documents": kept,
            "stages": {
                s["name"]: {"in": s["docs_in"], "out": s["docs_out"], "dropped": s["dropped"]} for s in stats["stages"]
            },
        }

    head = None
    if gated:
        from corpusforge.pipelines.airflow.triggers import LLMEndpointSensor

        head = LLMEndpointSensor(task_id="wait_for_llm", conn_id="{{ params.llm_conn_id }}", poll_interval=poll_seconds)
    planned: Any = plan()  # XComArgs: the TaskFlow wiring below is checked by Airflow when the file is parsed
    if head is not None:
        head >> planned
    config = planned["config"]
    for stage in shape.prepares:
        config = prepare.override(task_id=f"prepare_{stage}")(config, stage)
    previous: Any = None
    for seg in shape.segments:
        label = "_to_".join(dict.fromkeys([seg.stages[0], seg.stages[-1]]))
        shards_done = (
            segment.override(task_id=f"seg{seg.index}_{label}", doc_md=" → ".join(seg.stages))
            .partial(config=config, index=seg.index)
            .expand(shard=planned)
        )
        if previous is not None:
            previous >> shards_done
        previous = shards_done
        if seg.resolves:
            previous = resolve.override(task_id=f"resolve_{seg.resolves}")(config, seg.resolves, planned)
            shards_done >> previous
    done = finalize(config, planned, planned["started"])
    previous >> done


def lane_dag(name: str, **kwargs: Any) -> DAG | None:
    """The DAG of the named packaged pipeline (`pipelines/configs/<name>.yaml`); None while its YAML is absent."""
    path = pipeline_yaml(name)
    if path is None:
        return None
    return corpus_dag(
        path,
        llm_gate=name in LLM_PIPELINES,
        tags=("synthetic",) if name in SYNTHETIC_PIPELINES else ("corpus",),
        **kwargs,
    )


def lane_dags(names: tuple[str, ...] = CORPUS_PIPELINES, **kwargs: Any) -> dict[str, DAG]:
    """A DAG for every named pipeline whose YAML is present."""
    return {d.dag_id: d for d in (lane_dag(n, **kwargs) for n in names) if d is not None}
