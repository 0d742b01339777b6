"""A mixture ablation study as an Airflow DAG: one mapped task per proxy, in a pool of one slot per device.

    plan (export per-source shards, sample mixtures) -> train_proxy [one per proxy, pool `corpusforge_gpus`]
         -> recommend (regression, recommended mixture, report; publishes the study's asset)

The pool holds one slot per GPU (one on a CPU worker): create it once with
`airflow pools set corpusforge_gpus <number of GPUs> "one proxy per device"`. A proxy task claims a free device of
its host with a lock file, so two proxies never share a GPU, and a retried proxy resumes from its checkpoint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from corpusforge.pipelines.airflow.catalog import asset_schedule, packaged, study_asset, upstream_assets
from corpusforge.pipelines.airflow.connections import DEFAULT_AWS_CONN, environment, storage_env
from corpusforge.pipelines.airflow.corpus import DEFAULT_ARGS, run_params
from corpusforge.pipelines.airflow.devices import claim_device, study_devices

DEFAULT_POOL = "corpusforge_gpus"
# Checkpoints per proxy when the study sets none, so a retried proxy loses at most this share of its steps.
CHECKPOINTS_PER_PROXY = 10


def load_run_study(path: str, overrides: list[str]):
    """The study with a run's overrides; a relative blend path the worker's cwd lacks is the packaged one."""
    from corpusforge.trainer.study import load_study

    spec = load_study(packaged(path), overrides)
    return spec.model_copy(update={"blend": packaged(spec.blend)}) if spec.blend else spec


def ablation_dag(
    study: str,
    *,
    dag_id: str = "corpusforge_ablation",
    pool: str = DEFAULT_POOL,
    schedule: Any = None,
    default_args: dict[str, Any] | None = None,
) -> DAG:
    """The DAG of one study YAML; by default scheduled on the pipeline assets its sources are read from."""
    from corpusforge.mixtures.spec import load_blend

    path = packaged(study)
    spec = load_run_study(path, [])
    asset = study_asset(spec.name)
    if schedule is None:
        reads = [p for s in spec.sources for p in [*s.prefixes, *([s.manifest] if s.manifest else [])]]
        if spec.blend:
            reads += [p for s in load_blend(spec.blend).sources.values() for p in s.paths]
        schedule = asset_schedule(upstream_assets(reads))
    params = {
        "study": Param(path, type="string", description="Study YAML"),
        "overrides": Param([], type="array", description="key.sub=value settings of the study (proxies=64, ...)"),
        "aws_conn_id": Param(DEFAULT_AWS_CONN, type="string", description="Airflow connection with the S3 keys"),
    }
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        catchup=False,
        params=params,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, **(default_args or {})},
        tags=["corpusforge", "ablation"],
        doc_md=__doc__,
    ) as dag:

        @task
        def plan() -> list[dict]:
            """Export the sources (once), sample the mixtures; returns one entry per proxy to map over."""
            from corpusforge.trainer.ablate import plan_study

            params = run_params()
            run_spec = load_run_study(params["study"], list(params["overrides"]))
            with environment(storage_env(params["aws_conn_id"])):
                study_plan = plan_study(run_spec)
            if "checkpoint_every" not in run_spec.train:
                for i, cfg in enumerate(study_plan.configs):
                    every = max(1, cfg.max_steps // CHECKPOINTS_PER_PROXY)
                    study_plan.configs[i] = cfg.model_copy(update={"checkpoint_every": every})
            ti = get_current_context()["ti"]
            ti.xcom_push(key="study", value=run_spec.model_dump(mode="json"))
            ti.xcom_push(key="plan", value=study_plan.to_json())
            return [
                {"index": i, "weights": dict(zip(study_plan.names, w)), "devices": study_devices(run_spec)}
                for i, w in enumerate(study_plan.mixtures)
            ]

        @task(pool=pool, pool_slots=1, map_index_template="{{ proxy_label }}", execution_timeout=timedelta(hours=24))
        def train_proxy(proxy: dict, study_plan: dict) -> dict:
            """Train one proxy on a device no other proxy holds; a retry resumes from the proxy's checkpoint."""
            from corpusforge.trainer.ablate import StudyPlan
            from corpusforge.trainer.train import checkpoint_step, train

            params = run_params()
            i = proxy["index"]
            get_current_context()["proxy_label"] = f"proxy {i:03d} " + " ".join(  # type: ignore[typeddict-unknown-key]
                f"{n}={w:.2f}" for n, w in proxy["weights"].items()
            )
            cfg = StudyPlan.from_json(study_plan).configs[i]
            with environment(storage_env(params["aws_conn_id"])), claim_device(proxy["devices"]) as device:
                resumed_from = checkpoint_step(cfg.out_dir) or 0
                result = train(cfg.model_copy(update={"device": device}))
            return {
                "proxy": i,
                "device": device,
                "resumed_from": resumed_from,
                "steps": result.steps,
                "val_losses": result.val_losses,
            }

        @task(outlets=[asset])
        def recommend(study_json: dict, study_plan: dict, proxies: list[dict]) -> dict:
            """Regress loss on mixture weights, recommend a mixture, write the report; publishes the study asset."""
            import json

            import yaml

            from corpusforge.core import storage
            from corpusforge.trainer.ablate import StudyPlan, finish_study, recommended_blend
            from corpusforge.trainer.study import StudySpec
            from corpusforge.trainer.train import load_result

            params = run_params()
            run_spec = StudySpec.model_validate(study_json)
            loaded = StudyPlan.from_json(study_plan)
            with environment(storage_env(params["aws_conn_id"])):
                results = [load_result(cfg.out_dir) for cfg in loaded.configs]
                missing = [i for i, r in enumerate(results) if r is None]
                if missing:
                    raise RuntimeError(f"proxies {missing} have not finished: clear their train_proxy tasks")
                result = finish_study(run_spec, loaded, results)  # type: ignore[arg-type]
                blend = recommended_blend(run_spec, result)
                blend_path = storage.join(run_spec.out_dir, "recommended_blend.yaml") if blend else None
                if blend_path:
                    storage.write_text(blend_path, yaml.safe_dump(blend, sort_keys=False))
            summary = {
                "recommended": result.recommended,
                "predicted_loss": result.predicted_loss,
                "spearman": result.spearman,
                "proxies": len(proxies),
                "report": result.report_path,
                "study": storage.join(run_spec.out_dir, "study.json"),
                "blend": blend_path,
            }
            get_current_context()["outlet_events"][asset].extra = json.loads(json.dumps(summary))
            return summary

        planned: Any = plan()  # XComArgs: Airflow checks this wiring when the file is parsed
        trained: Any = train_proxy.partial(study_plan=planned["plan"]).expand(proxy=planned)
        recommend(planned["study"], planned["plan"], trained)
    return dag
