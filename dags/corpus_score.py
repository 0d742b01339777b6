"""Airflow DAG `corpusforge_score`: quality scoring and decontamination of the web lane's output
(pipelines/configs/score.yaml), one mapped task per input shard; it runs when the web lane publishes.

Built by corpusforge's factory (`corpusforge.pipelines.airflow.corpus`); no DAG while the YAML is absent.
"""
from corpusforge.pipelines.airflow.corpus import lane_dag

dag = lane_dag("score")
