"""Airflow DAGs `corpusforge_code` and `corpusforge_code_stack`: the code lane over repository snapshots
(pipelines/configs/code.yaml) and over The Stack-shaped rows (code_stack.yaml), one mapped task per input shard.

Built by corpusforge's factory (`corpusforge.pipelines.airflow.corpus`); no DAG while a YAML is absent.
"""

from corpusforge.pipelines.airflow.corpus import lane_dags

globals().update(lane_dags(("code", "code_stack")))
