"""Airflow DAGs `corpusforge_score`, `corpusforge_code_repo`, `corpusforge_math_score`: the passes over the lanes'
outputs (quality scoring and decontamination, repository packing, math scoring), one mapped task per input shard.

Each runs when the lane it reads publishes its asset. Built by `corpusforge.pipelines.airflow.corpus`; a pass
whose YAML is absent has no DAG.
"""

from corpusforge.pipelines.airflow.corpus import lane_dags

globals().update(lane_dags(("score", "code_repo", "math-score")))
