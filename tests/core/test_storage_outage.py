"""Object-store outages: refused connections and SlowDown are retried with backoff; a lasting outage ends the
run with one line that says what failed and that rerunning resumes."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document

pytestmark = pytest.mark.slow

SLOWDOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
)
SLOWDOWN_BODY = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


class FlakyProxy:
    """A TCP proxy in front of the S3 server that can refuse connections or answer 503 SlowDown."""

    def __init__(self, upstream: str):
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.mode = "up"  # "up" | "refuse" | "slowdown"
        self.refused = self.throttled = 0
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._stop = threading.Event()
        self._listen()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        self._listener = s

    def set(self, mode: str) -> None:
        """Switch modes; "refuse" closes the port so connections are refused, as when a server is down."""
        if mode != "up":  # open keep-alive connections break too, as they do when a server goes away
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if mode == "refuse" and self._listener is not None:
            self._listener.close()
            self._listener = None
        elif mode != "refuse" and self._listener is None:
            self._listen()
        self.mode = mode

    def _accept(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.mode == "slowdown":
            self.throttled += 1
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(SLOWDOWN % (len(SLOWDOWN_BODY), SLOWDOWN_BODY))
            except OSError:
                pass
            conn.close()
            return
        up = socket.create_connection(self.upstream)
        self._open.update((conn, up))
        for a, b in ((conn, up), (up, conn)):
            threading.Thread(target=_pipe, args=(a, b, self._open), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()


def _pipe(a: socket.socket, b: socket.socket, open_: set) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            open_.discard(s)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _setup(s3_server: str, tmp_path) -> tuple[list, dict]:
    for s in range(3):
        docs = [Document(f"s{s}-{i}", f"page {i % 4} text" if i % 2 else f"unique {s} {i}") for i in range(20)]
        storage.write_documents(f"{s3_server}/in/{s}.parquet", docs)
    config = {
        "name": "outage",
        "output": f"{s3_server}/out",
        "engine": {"type": "local", "workers": 1},
        "input": {"type": "parquet", "paths": [f"{s3_server}/in/*.parquet"]},
        "stages": [{"type": "exact_dedup", "buckets": 3}],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    cli = [sys.executable, "-m", "corpusforge.cli", "run", str(tmp_path / "p.yaml")]
    return cli, {**os.environ, "CORPUSFORGE_PROGRESS": "0"}


def test_an_outage_is_survived_and_the_output_is_whole(s3_server, tmp_path):
    cli, env = _setup(s3_server, tmp_path)
    proxy = FlakyProxy(os.environ["CORPUSFORGE_S3_ENDPOINT"])
    try:
        run = subprocess.Popen(
            cli,
            env={**env, "CORPUSFORGE_S3_ENDPOINT": proxy.endpoint},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # the store goes away once the run has started writing, then throttles, then comes back
        deadline = time.time() + 120
        while time.time() < deadline and not storage.exists(f"{s3_server}/out/_work/lease.json"):
            time.sleep(0.05)
        proxy.set("refuse")  # longer than botocore's own few retries: the run's retry loop carries it
        time.sleep(8)
        proxy.set("slowdown")
        time.sleep(3)
        proxy.set("up")
        out, err = run.communicate(timeout=300)
    finally:
        proxy.close()
    assert run.returncode == 0, err
    assert proxy.throttled > 0
    stats = json.loads(storage.read_text(f"{s3_server}/out/stats.json"))
    assert stats["balanced"] and stats["stages"][0]["docs_in"] == 60
    assert stats["stages"][1]["dropped"] == {"exact_duplicate": 58}  # digits normalise to 0: two texts survive
    assert "retrying" in err


def test_a_lasting_outage_ends_with_one_line_and_a_rerun_resumes(s3_server, tmp_path):
    cli, env = _setup(s3_server, tmp_path)
    proxy = FlakyProxy(os.environ["CORPUSFORGE_S3_ENDPOINT"])
    try:
        run = subprocess.Popen(
            cli,
            env={**env, "CORPUSFORGE_S3_ENDPOINT": proxy.endpoint, "CORPUSFORGE_STORAGE_RETRY_S": "3"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline and not storage.exists(f"{s3_server}/out/_work/pipeline.json"):
            time.sleep(0.02)
        proxy.set("refuse")
        out, err = run.communicate(timeout=300)
    finally:
        proxy.close()
    assert run.returncode == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "storage unreachable" in errors[0] and "rerun the same command" in errors[0]
    assert "Traceback" not in err and "│" not in err  # no wall of frames: retry warnings and the error line
    log = errors[0].split("(traceback: ")[1].rstrip(")")
    with open(log) as f:
        assert "EndpointConnectionError" in f.read()
    # the store is back: the same command resumes and finishes
    again = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(storage.read_text(f"{s3_server}/out/stats.json"))["balanced"]
