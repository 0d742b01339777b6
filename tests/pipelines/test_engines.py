"""Spark and Ray engines: real sessions, results in item order, errors surface, settings reach workers."""

import math
import os

import pytest

from corpusforge.pipelines.engines.base import make_engine

pytestmark = pytest.mark.slow


@pytest.fixture(params=["spark", "ray"])
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")


def test_map_returns_results_in_item_order(engine):
    items = [81, 1, 49, 4, 100, 9, 0]
    assert engine.map(math.sqrt, items) == [9.0, 1.0, 7.0, 2.0, 10.0, 3.0, 0.0]
    assert engine.map(math.sqrt, []) == []


def test_worker_errors_reach_the_driver(engine):
    with pytest.raises(Exception, match="invalid literal for int"):
        engine.map(int, ["1", "not a number"])


def test_storage_settings_set_after_start_reach_workers(engine, monkeypatch):
    # The S3 endpoint is often set after the session started (fixtures, reused sessions).
    monkeypatch.setenv("CORPUSFORGE_S3_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert engine.map(os.getenv, ["CORPUSFORGE_S3_ENDPOINT", "AWS_PROFILE"]) == ["http://127.0.0.1:1", None]


def test_local_engine_workers_see_settings_made_after_its_forkserver_started(monkeypatch):
    from corpusforge.pipelines.engines.local import LocalEngine

    engine = LocalEngine(workers=2)  # one worker would run in this process
    engine.map(abs, [-1, -2])  # starts datatrove's forkserver with today's environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "set-later")
    assert engine.map(os.getenv, ["AWS_ACCESS_KEY_ID"] * 2) == ["set-later"] * 2


def test_tasks_run_in_worker_processes_not_the_driver(engine):
    # readlink(/proc/self) is the pid of whichever process runs it.
    pids = engine.map(os.readlink, ["/proc/self"] * 3)
    assert str(os.getpid()) not in pids and all(p.isdigit() for p in pids)


def test_engines_share_one_session_per_process(spark_engine, ray_engine):
    import ray

    again = make_engine("spark", workers=2)
    assert again.spark is spark_engine.spark and again.name == "spark"
    again.close()  # closing an engine leaves the process's session running
    assert spark_engine.map(abs, [-3]) == [3]
    assert make_engine("ray", workers=2).name == "ray" and ray.is_initialized()
    assert spark_engine.spark.sparkContext.master == "local[2]"


def test_local_engine_runs_under_a_temp_dir_too_long_for_a_socket_path(tmp_path):
    # multiprocess binds its manager's and forkserver's unix sockets under the temp dir, and a socket path
    # holds at most 107 bytes: an HPC job's TMPDIR used to fail every parallel map at start
    import subprocess
    import sys

    long_tmp = tmp_path / ("t" * 60) / ("m" * 60)
    long_tmp.mkdir(parents=True)
    code = (
        "from corpusforge.pipelines.engines.local import LocalEngine\nprint(LocalEngine(workers=2).map(abs, [-3, -4]))"
    )
    env = {**os.environ, "TMPDIR": str(long_tmp)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[3, 4]"
