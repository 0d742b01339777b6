"""Airflow DAGs `corpusforge_<lane>_spark_submit`: each corpus lane run by spark-submit on the `spark_default` master.

The per-shard DAGs (`corpusforge_<lane>`) make Airflow the scheduler of every shard; these hand the whole run to a
Spark cluster through the Spark provider's SparkSubmitOperator. Built by `corpusforge.pipelines.airflow.spark`.
"""

from corpusforge.pipelines.airflow.catalog import CORPUS_LANES
from corpusforge.pipelines.airflow.spark import spark_submit_dags

globals().update(spark_submit_dags(CORPUS_LANES))
