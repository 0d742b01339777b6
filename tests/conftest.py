"""Shared fixtures: real engines started once per test session, and a real S3-API server.

- `spark_engine` / `ray_engine`: a local SparkSession / Ray (2 workers) shared by every test;
  starting them costs 10-20 s each, so never start your own.
- `s3_server`: a moto S3 server on 127.0.0.1 (one per session); per test it sets
  CORPUSFORGE_S3_ENDPOINT and dummy AWS keys, creates a fresh bucket and returns its `s3://` URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

# Progress bars only clutter test logs.
os.environ.setdefault("CORPUSFORGE_PROGRESS", "0")


@pytest.fixture(scope="session")
def spark_engine():
    from corpusforge.pipelines.engines.spark import SparkEngine

    return SparkEngine(workers=2)


@pytest.fixture(scope="session")
def ray_engine():
    from corpusforge.pipelines.engines.ray import RayEngine

    return RayEngine(workers=2)


@pytest.fixture(scope="session")
def _moto_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_server(_moto_endpoint, monkeypatch) -> str:
    """A fresh bucket on the loopback S3 server; returns `s3://<bucket>`."""
    monkeypatch.setenv("CORPUSFORGE_S3_ENDPOINT", _moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    import s3fs

    bucket = f"corpusforge-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": _moto_endpoint}, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}"


# ------------------------------------------------------------------ the embedded model over loopback HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llm_serve():
    """`corpusforge llm serve` on a free loopback port; yields its /v1 URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli", "llm", "serve", "--port", str(port), "--batch-size", "4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llm serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("llm serve did not become healthy in 300 s")
    yield url + "/v1"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
