"""Airflow DAGs `corpusforge_rephrase`, `corpusforge_sft`, `corpusforge_rl`: LLM generation pipelines, one mapped
task per input shard, gated by a deferrable sensor on the LLM endpoint of the `corpusforge_llm` connection.

Built by `corpusforge.pipelines.airflow.corpus`; a pipeline whose YAML is absent has no DAG.
"""

from corpusforge.pipelines.airflow.catalog import SYNTHETIC_PIPELINES
from corpusforge.pipelines.airflow.corpus import lane_dags

globals().update(lane_dags(SYNTHETIC_PIPELINES))
