"""Airflow DAGs `corpusforge_math_cleanup`, `corpusforge_code_pages`: the LLM cleanup of math pages (over the math
lane's output) and the code-pages lane (Common Crawl pages mostly code, cleaned with the code prompt), one mapped
task per input shard, gated like the synthetic pipelines by a deferrable sensor on the `corpusforge_llm` endpoint.

Built by `corpusforge.pipelines.airflow.corpus`; a pipeline whose YAML is absent has no DAG.
"""

from corpusforge.pipelines.airflow.catalog import CLEANUP_PIPELINES
from corpusforge.pipelines.airflow.corpus import lane_dags

globals().update(lane_dags(CLEANUP_PIPELINES))
