"""Spark engine: tasks run inside `mapPartitions` of a real SparkSession (local or a cluster)."""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from corpusforge.pipelines.engines.base import Engine
from corpusforge.pipelines.engines.worker_env import call_with_env, driver_env
from corpusforge.pipelines.progress import task_progress

# Starting Spark costs 10-20 s, so a process keeps one session and every SparkEngine shares
# it; the session is stopped when the process exits (CLI runs) rather than on engine close,
# so a test suite or notebook pays the start once.
_LOCK = threading.Lock()
_SESSION = None
_MASTER: str | None = None

# Spark's INFO/WARN lines (native-hadoop, hostname, default profile) drown a CLI run's output.
_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
# Root stays at WARN (PySpark announces any other level on stderr); the session drops to ERROR
# once started. The one WARN every local start prints:
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
"""


def spark_session(workers: int = 2, address: str | None = None):
    """The process's SparkSession, started on first use (`local[workers]` unless a master is given)."""
    global _SESSION, _MASTER
    master = address or f"local[{workers}]"
    with _LOCK:
        if _SESSION is not None and _SESSION.sparkContext._jsc is not None:
            if address is None or master == _MASTER:
                return _SESSION
            _SESSION.stop()
        _SESSION, _MASTER = _start(master, workers), master
        return _SESSION


def _start(master: str, workers: int):
    local = master.startswith("local")
    if local:
        # Local workers must run this interpreter (the one with corpusforge installed), not
        # `python3`; a cluster's nodes name theirs through PYSPARK_PYTHON as usual.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if "SPARK_CONF_DIR" not in os.environ:
        # spark-class puts SPARK_CONF_DIR on the driver's classpath, where log4j2 finds its file.
        conf_dir = tempfile.mkdtemp(prefix="corpusforge-spark-")
        with open(os.path.join(conf_dir, "log4j2.properties"), "w") as f:
            f.write(_LOG4J2)
        os.environ["SPARK_CONF_DIR"] = conf_dir
    # PySpark 4 warns on every start that pandas 3 is untested; we use no pandas APIs.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("corpusforge")
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Tasks here are whole shards: a few wide partitions, not Spark's default 200.
        .config("spark.sql.shuffle.partitions", str(max(2, workers * 2)))
        .config("spark.default.parallelism", str(max(2, workers)))
    )
    if local:
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_spark() -> None:
    """Stop the process's SparkSession, if one was started."""
    global _SESSION
    with _LOCK:
        if _SESSION is not None:
            _SESSION.stop()
            _SESSION = None


atexit.register(stop_spark)


def _run_partition(fn: Callable[[Any], Any], env: dict[str, str]) -> Callable[[Iterable], Iterator]:
    def run(pairs: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        for i, item in pairs:
            yield i, call_with_env(env, fn, item)

    return run


class SparkEngine(Engine):
    """Runs each item as one Spark task (one partition per item) on the process's SparkSession."""

    name = "spark"

    def __init__(self, workers: int = 2, address: str | None = None, workdir: str | None = None):
        super().__init__(workers, address, workdir)
        self.spark = spark_session(workers, address)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "tasks") -> list[Any]:
        items = list(items)
        if not items:
            return []
        sc = self.spark.sparkContext
        rdd = sc.parallelize(list(enumerate(items)), numSlices=len(items))
        mapped = rdd.mapPartitions(_run_partition(fn, driver_env()))
        group = f"corpusforge-{uuid.uuid4().hex[:8]}"
        out: list[Any] = []
        errors: list[BaseException] = []

        def collect() -> None:
            try:
                # Job groups are per thread (pinned thread mode), so set it where the job runs.
                sc.setJobGroup(group, desc)
                out.extend(mapped.collect())
            except BaseException as e:
                errors.append(e)

        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        with task_progress(desc, len(items)) as advance:
            while thread.is_alive():
                thread.join(0.5)
                advance(_completed_tasks(sc, group))
        if errors:
            raise errors[0]
        return [r for _, r in sorted(out, key=lambda p: p[0])]


def _completed_tasks(sc, group: str) -> int:
    tracker = sc.statusTracker()
    done = 0
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        for stage in info.stageIds if info else ():
            stage_info = tracker.getStageInfo(stage)
            done += stage_info.numCompletedTasks if stage_info else 0
    return done
