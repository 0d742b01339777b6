"""Airflow DAG: blend curated sources into Megatron token shards (a corpusforge blend spec).

Thin by design: every task calls the corpusforge library. `run_mix` skips token caches and
shards already committed, so a retry resumes the export instead of redoing it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task


@dag(
    dag_id="corpusforge_mixture",
    schedule=None,
    catchup=False,
    tags=["corpusforge"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "blend": Param("mixtures/examples/demo_blend.yaml", type="string", description="Blend spec YAML"),
        "engine": Param("local", enum=["local", "spark", "ray"], description="Engine that runs the tasks"),
        "output": Param("", type="string", description="Output prefix (local path or s3://); empty keeps the YAML's"),
        "overrides": Param([], type="array", description="key.sub=value settings, as `corpusforge mix --set`"),
    },
    doc_md=__doc__,
)
def corpusforge_mixture():
    @task
    def validate(params: dict | None = None) -> dict:
        """Load the blend with the run's overrides; fails before any work if a setting is wrong."""
        from corpusforge.mixtures.spec import load_blend

        overrides = list(params["overrides"]) + [f"engine.type={params['engine']}"]
        if params["output"]:
            overrides.append(f"output={params['output']}")
        return load_blend(params["blend"], overrides).model_dump(mode="json")

    @task(execution_timeout=timedelta(hours=24))
    def mix(spec: dict) -> str:
        """Tokenize, schedule and write the shards; returns the manifest path."""
        from corpusforge.mixtures.export import run_mix
        from corpusforge.mixtures.spec import validate_blend

        return run_mix(validate_blend(spec)).manifest_path

    @task
    def summarise(manifest_path: str) -> dict:
        """Tokens and realised source shares per phase, from the mix manifest."""
        from corpusforge.mixtures.manifest import load_mix_manifest

        manifest = load_mix_manifest(manifest_path)
        return {
            "manifest": manifest_path,
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

    summarise(mix(validate()))


corpusforge_mixture()
