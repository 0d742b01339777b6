"""Airflow DAG `corpusforge_math`: the math lane (pipelines/configs/math.yaml), one mapped task per input shard.

Built by corpusforge's factory (`corpusforge.pipelines.airflow.corpus`); no DAG while the YAML is absent.
"""

from corpusforge.pipelines.airflow.corpus import lane_dag

dag = lane_dag("math")
