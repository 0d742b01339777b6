"""A blend spec as an Airflow DAG: scheduled on the pipeline assets it blends, its token shards an asset.

A refreshed lane (a new event on an asset whose output the blend reads) queues a new export; the export's event
names the shards' manifest and the lane runs it blended, so training (or an ablation study) can be scheduled on it.
`run_mix` skips token caches and shards already committed, so a retry resumes the export instead of redoing it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from corpusforge.pipelines.airflow.catalog import asset_schedule, mixture_asset, packaged, upstream_assets
from corpusforge.pipelines.airflow.connections import DEFAULT_AWS_CONN, environment, storage_env
from corpusforge.pipelines.airflow.corpus import DEFAULT_ARGS, run_params


def blend_overrides(params: dict[str, Any]) -> list[str]:
    """A run's params as `corpusforge mix --set` overrides."""
    overrides = list(params.get("overrides") or []) + [f"engine.type={params['engine']}"]
    if params.get("output"):
        overrides.append(f"output={params['output']}")
    return overrides


def triggering_runs() -> list[dict[str, Any]]:
    """The asset events that triggered this run (empty for a manual run): which lane run, where it wrote."""
    events = get_current_context().get("triggering_asset_events") or {}
    out = []
    for asset, items in events.items():
        for e in items:
            out.append(
                {
                    "asset": getattr(asset, "name", str(asset)),
                    "dag_id": e.source_dag_id,
                    "run_id": e.source_run_id,
                    **(e.extra or {}),
                }
            )
    return out


def mixture_dag(
    blend: str, *, dag_id: str = "corpusforge_mixture", schedule: Any = None, default_args: dict[str, Any] | None = None
) -> DAG:
    """The export DAG of a blend spec; by default scheduled on the assets of the pipelines its sources read."""
    from corpusforge.mixtures.spec import load_blend

    path = packaged(blend)
    spec = load_blend(path)
    asset = mixture_asset(spec.name)
    if schedule is None:
        schedule = asset_schedule(upstream_assets(p for s in spec.sources.values() for p in s.paths))
    params = {
        "blend": Param(path, type="string", description="Blend spec YAML"),
        "engine": Param(spec.engine.type, enum=["local", "spark", "ray"], description="Engine that runs the tasks"),
        "output": Param("", type="string", description="Output prefix (local path or s3://); empty keeps the YAML's"),
        "overrides": Param([], type="array", description="key.sub=value settings, as `corpusforge mix --set`"),
        "aws_conn_id": Param(DEFAULT_AWS_CONN, type="string", description="Airflow connection with the S3 keys"),
    }
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        catchup=False,
        params=params,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, **(default_args or {})},
        tags=["corpusforge", "mixture"],
        doc_md=__doc__,
    ) as dag:

        @task
        def validate() -> dict:
            """Load the blend with the run's overrides; fails before any work if a setting is wrong."""
            from corpusforge.mixtures.spec import load_blend as load

            params = run_params()
            return load(packaged(params["blend"]), blend_overrides(params)).model_dump(mode="json")

        @task(execution_timeout=timedelta(hours=24), outlets=[asset])
        def mix(blend_spec: dict) -> dict:
            """Tokenize, schedule and write the shards; publishes the shards' asset with their manifest."""
            from corpusforge.mixtures.export import run_mix
            from corpusforge.mixtures.spec import validate_blend

            params = run_params()
            with environment(storage_env(params["aws_conn_id"])):
                result = run_mix(validate_blend(blend_spec))
            manifest = result.manifest
            summary = {
                "manifest": result.manifest_path,
                "output": blend_spec["output"],
                "tokens": manifest.tokens,
                "phases": {
                    p.name: {
                        "tokens": p.tokens,
                        "shards": len(p.shards),
                        "shares": p.shares,
                        "max_share_error": p.max_share_error,
                    }
                    for p in manifest.phases
                },
            }
            extra: dict[str, Any] = {**summary, "blended": triggering_runs()}
            get_current_context()["outlet_events"][asset].extra = extra
            return summary

        spec_json: Any = validate()
        mix(spec_json)
    return dag
