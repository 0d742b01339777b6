"""Airflow 3 DAG factories for corpusforge: the DAG files under `dags/` call these and hold no logic of their own.

- `corpus.corpus_dag`: a pipeline YAML as a DAG, one mapped task per input shard per segment, each global step's
  resolve and each index build as its own task, then `finalize` (stats, manifest, report); the run's output is an
  Asset. With `llm_gate`, a deferrable sensor first waits for the LLM endpoint of an Airflow connection.
- `mixture.mixture_dag`: a blend spec as a DAG scheduled on the assets it blends; its shards are an Asset.
- `ablation.ablation_dag`: a mixture study, one mapped task per proxy in a pool of one slot per device, then the
  regression and recommendation, published as an Asset.
- `spark.spark_submit_dag`: a pipeline YAML run by `spark-submit` (SparkSubmitOperator) on the Spark connection.
- `catalog`: where the named pipeline YAMLs are, their assets, and schedules derived from what each YAML reads.
- `connections`: storage and LLM settings from Airflow connections, never from DAG files.
"""
