"""One Airflow session for tests/dags: parse the DAG folders, run the DAGs under `dag.test()`, report what happened.

Run as a script in a subprocess (Airflow configures logging and its ORM at import, with a throw-away home and a
sqlite metadata DB), from a working directory holding the demo sample. It prints one `RESULT <json>` line; the
tests assert on it. Everything is imported inside `main`, so the worker processes the local engine starts
(which import this file as their main module) stay light.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    args = json.loads(sys.argv[1])
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    out: dict = {}
    real = DagBag(dag_folder=args["real_dags"])
    out["import_errors"] = {k: str(v)[-2000:] for k, v in real.import_errors.items()}
    out["dags"] = {
        d: {"tasks": [t.task_id for t in dag.tasks], "schedule": _schedule(dag)} for d, dag in real.dags.items()
    }
    initdb()
    Pool.create_or_update_pool("corpusforge_gpus", slots=1, description="one proxy per device", include_deferred=False)
    bag = DagBag(dag_folder=args["dags"])
    assert not bag.import_errors, bag.import_errors
    session = Session(bag)

    web_conf = {"overrides": ["stages.1.extractor=resiliparse", "engine.workers=1"]}
    out["web"] = session.test("corpusforge_web", web_conf)
    out["web"]["events"] = session.asset_events("corpusforge/web")
    out["queued_after_web"] = session.queued()

    _bootstrap_classifier()
    out["score"] = session.run_asset_triggered("corpusforge_score")
    out["queued_after_score"] = session.queued()
    out["mixture"] = session.run_asset_triggered("corpusforge_mixture")
    out["mixture"]["events"] = session.asset_events("corpusforge/mix/demo")

    out["ablation"] = _ablation(session)

    # The other lanes on part of their sample: four repositories, the two WARCs of math pages.
    out["code"] = session.test("corpusforge_code", {"input": args["code_inputs"], "overrides": ["engine.workers=1"]})
    out["math"] = session.test("corpusforge_math", {"input": args["math_inputs"], "overrides": ["engine.workers=1"]})
    out["queued_after_lanes"] = session.queued()

    crash_conf = {"input": [f"{args['s3']}/in/*.parquet"], "output": f"{args['s3']}/out"}
    out["crash"] = session.test("test_crash_once", crash_conf)
    out["crash"]["markers"] = _s3_markers(f"{args['s3']}/out/_work")
    out["crash_again"] = session.test("test_crash_once", crash_conf)
    out["crash_again"]["markers"] = _s3_markers(f"{args['s3']}/out/_work")

    # The rephrasing lane against the stub LLM server of the connection, counting tokens with the export's tokenizer.
    from corpusforge.mixtures.manifest import load_mix_manifest

    tokenizer = str(Path(load_mix_manifest("runs/mix/demo").tokenizer_path()).resolve())
    out["synthetic"] = session.test("corpusforge_rephrase", {"overrides": [f"stages.0.tokenizer={tokenizer}"]})

    one_warc = str(sorted(Path("sample/warc").resolve().glob("*.warc.gz"))[0])
    out["spark"] = session.test(
        "test_spark_submit", {"output": str(Path("runs/web-spark").resolve()), "input": [one_warc]}
    )
    out["spark"]["input"] = one_warc
    out["web"]["documents"] = _documents("runs/web")
    print("RESULT " + json.dumps(out, default=str))


class Session:
    """dag.test() runs and the metadata DB's view of them."""

    def __init__(self, bag):
        from airflow import settings

        self.bag, self.db = bag, settings.Session()

    def test(self, dag_id: str, conf: dict, **kwargs) -> dict:
        run = self.bag.dags[dag_id].test(run_conf=conf, **kwargs)
        return self.facts(run)

    def facts(self, run) -> dict:
        from airflow.models.dagrun import DagRun
        from airflow.models.xcom import XComModel

        self.db.expire_all()
        run = self.db.get(DagRun, run.id)
        tis = sorted(run.get_task_instances(session=self.db), key=lambda t: (t.task_id, t.map_index))
        xcoms = {
            (x.task_id, x.map_index, x.key): XComModel.deserialize_value(x)
            for x in self.db.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id))
        }
        return {
            "state": str(run.state),
            "run_type": str(run.run_type),
            "tasks": [
                {
                    "task": t.task_id,
                    "map": t.map_index,
                    "state": str(t.state),
                    "try": t.try_number,
                    "label": t.rendered_map_index,
                    "result": xcoms.get((t.task_id, t.map_index, "return_value")),
                }
                for t in tis
            ],
            "consumed": [
                {"asset": e.asset.name, "dag_id": e.source_dag_id, "extra": e.extra} for e in run.consumed_asset_events
            ],
        }

    def asset_events(self, name: str) -> list[dict]:
        from airflow.models.asset import AssetEvent, AssetModel
        from sqlalchemy import select

        self.db.expire_all()
        rows = self.db.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == name)
            .order_by(AssetEvent.id)
        )
        return [{"dag_id": e.source_dag_id, "task_id": e.source_task_id, "extra": e.extra} for e in rows]

    def queued(self) -> list[str]:
        """The DAGs the scheduler would start now because an asset they are scheduled on has a new event."""
        from airflow.models.dag import DagModel

        self.db.expire_all()
        _, triggered = DagModel.dags_needing_dagruns(self.db)
        self.db.rollback()  # release the rows dags_needing_dagruns locks
        return sorted(triggered)

    def run_asset_triggered(self, dag_id: str) -> dict:
        """Create the DAG's asset-triggered run as the scheduler does, then run its tasks as dag.test() does."""
        from airflow.jobs.job import Job
        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunType

        self.db.expire_all()
        runner = SchedulerJobRunner(job=Job())
        runner._create_dag_runs_asset_triggered(
            dag_models=[DagModel.get_current(dag_id, session=self.db)], session=self.db
        )
        self.db.commit()
        run = DagRun.find(dag_id=dag_id, run_type=DagRunType.ASSET_TRIGGERED, session=self.db)[-1]
        run.set_state(DagRunState.RUNNING)  # what the scheduler's next loop does with a queued run
        self.db.commit()
        return self.facts(self._execute(run))

    def _execute(self, run):
        """dag.test()'s loop (airflow.sdk.definitions.dag.DAG.test) over a run the scheduler created."""
        from airflow.sdk.definitions.dag import _run_task
        from airflow.serialization.serialized_objects import DagSerialization
        from airflow.utils.state import DagRunState, TaskInstanceState

        dag = self.bag.dags[run.dag_id]
        run.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        while run.state == DagRunState.RUNNING:
            self.db.expire_all()
            schedulable, _ = run.update_state(session=self.db)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            self.db.commit()
            for ti in [t for t in run.get_task_instances(session=self.db) if t.state == TaskInstanceState.SCHEDULED]:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
        return run


def _schedule(dag) -> str:
    from airflow.serialization.serialized_objects import DagSerialization

    timetable = DagSerialization.serialize_dag(dag)["timetable"]
    return json.dumps(timetable, sort_keys=True, default=str)


def _s3_markers(prefix: str) -> dict[str, str]:
    """Commit markers under an S3 prefix and when each was written (keys from the test's aws connection)."""
    import s3fs

    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    fs = s3fs.S3FileSystem(
        key=conn["login"],
        secret=conn["password"],
        skip_instance_cache=True,
        client_kwargs={"endpoint_url": conn["extra"]["endpoint_url"]},
    )
    return {p: str(fs.info(p)["LastModified"]) for p in sorted(fs.glob(prefix.removeprefix("s3://") + "/seg*/*.json"))}


def _documents(output: str) -> list[str]:
    from corpusforge.pipelines.runner import iter_output

    return sorted(d.id for d in iter_output(output))


def _bootstrap_classifier() -> None:
    """The demo's DCLM-style quality model, trained on the web lane's output (the score pipeline needs it)."""
    from corpusforge.cli.classifiers import bootstrap

    bootstrap(
        ["runs/web/data/*.parquet"],
        out="runs/models/dclm",
        reference="stdlib-docs",
        labels_out=None,
        max_per_class=200_000,
        epoch=20,
        seed=0,
    )


def _study_on_the_export() -> str:
    """A study over the mixture DAG's shards: its two phases as the two candidate sources."""
    import yaml

    def prefixes(phase: str) -> list[str]:
        return [str(p.with_suffix("")) for p in sorted(Path("runs/mix/demo", phase).glob("*.bin"))]

    path = Path("study.yaml").resolve()
    path.write_text(
        yaml.safe_dump(
            {
                "name": "dag-test",
                "out_dir": str(Path("runs/study/dag-test").resolve()),
                "proxies": 3,
                "seed": 0,
                "sources": [
                    {"name": "phase1", "prefixes": prefixes("phase1")},
                    {"name": "phase2", "prefixes": prefixes("phase2")},
                ],
                "target": {"phase2": 1.0},
                "candidates": 200,
                "top_average": 10,
                "train": {
                    "preset": "proxy-10m",
                    "model": {
                        "d_model": 64,
                        "pattern": "ME*E",
                        "mamba_d_state": 16,
                        "mamba_head_dim": 16,
                        "mamba_chunk": 32,
                        "attn_heads": 4,
                        "attn_kv_heads": 2,
                        "attn_head_dim": 16,
                        "moe_experts": 4,
                        "moe_top_k": 2,
                        "moe_expert_dim": 32,
                        "moe_shared_dim": 32,
                    },
                    "seq_len": 64,
                    "batch_size": 4,
                    "max_steps": 6,
                    "warmup_steps": 1,
                    "eval_every": 0,
                    "eval_batches": 1,
                    "log_every": 2,
                    "checkpoint_every": 2,
                    "threads": 1,
                    "val_fraction": 0.1,
                },
            }
        )
    )
    return str(path)


def _ablation(session: Session) -> dict:
    """Plan the study, interrupt one proxy mid-training (a killed worker), then run the DAG: it resumes."""
    from corpusforge.trainer.ablate import StudyPlan
    from corpusforge.trainer.train import train

    conf = {"study": _study_on_the_export(), "overrides": []}
    planned = session.test("corpusforge_ablation", conf, mark_success_pattern="train_proxy|recommend")
    plan = next(t["result"] for t in planned["tasks"] if t["task"] == "plan")
    from airflow.models.xcom import XComModel

    row = session.db.scalars(
        XComModel.get_many(
            run_id=_run_id(session, "corpusforge_ablation"), key="plan", task_ids="plan", dag_ids="corpusforge_ablation"
        )
    ).one()
    config = StudyPlan.from_json(XComModel.deserialize_value(row)).configs[1]
    train(config.model_copy(update={"device": "cpu"}), stop_after=config.checkpoint_every)
    result = session.test("corpusforge_ablation", conf)
    result["proxies_planned"] = len(plan)
    result["interrupted_at"] = config.checkpoint_every
    result["events"] = session.asset_events("corpusforge/study/demo")
    result["study"] = conf["study"]
    return result


def _run_id(session: Session, dag_id: str) -> str:
    from airflow.models.dagrun import DagRun

    session.db.expire_all()
    return sorted(DagRun.find(dag_id=dag_id, session=session.db), key=lambda r: r.id)[-1].run_id


if __name__ == "__main__":
    os.environ.setdefault("CORPUSFORGE_PROGRESS", "0")
    main()
