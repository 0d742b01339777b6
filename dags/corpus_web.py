"""Airflow DAG `corpusforge_web`: the Common Crawl web lane (pipelines/configs/web.yaml), one mapped task per
input shard.

Built by corpusforge's factory (`corpusforge.pipelines.airflow.corpus`); no DAG while the YAML is absent.
"""

from corpusforge.pipelines.airflow.corpus import lane_dag

dag = lane_dag("web")
