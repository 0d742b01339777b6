"""Airflow DAG `corpusforge_mixture`: the demo blend (mixtures/examples/demo_blend.yaml) as Megatron token shards.

Scheduled on the assets of the pipelines the blend reads (the scored web lane), so a refreshed lane triggers a new
export; its shards are the asset `corpusforge/mix/demo`. Built by `corpusforge.pipelines.airflow.mixture`.
"""

from corpusforge.pipelines.airflow.mixture import mixture_dag

dag = mixture_dag("corpusforge:mixtures/examples/demo_blend.yaml")
