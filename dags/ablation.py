"""Airflow DAG `corpusforge_ablation`: the demo mixture study (trainer/examples/demo_study.yaml), RegMix style.

One mapped task per proxy in the pool `corpusforge_gpus` (one slot per device), then the regression and the
recommended blend, published as the asset `corpusforge/study/demo`. Built by `corpusforge.pipelines.airflow.ablation`.
"""

from corpusforge.pipelines.airflow.ablation import ablation_dag

dag = ablation_dag("corpusforge:trainer/examples/demo_study.yaml")
