"""A pool of reusable worker processes that run one function with a hard per-call timeout.

Workers are fresh interpreters (`python -m` this module: never forked from a threaded parent, and unlike
multiprocessing's spawn they never re-import the caller's `__main__`), kept between calls because importing
SymPy and math-verify costs far more than a comparison. A worker that overruns its timeout is killed and
replaced, so a hung SymPy call costs one worker restart, not the run. Calls from many threads share the pool.
"""

from __future__ import annotations

import importlib
import os
import queue
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import corpusforge

# The directory holding the `corpusforge` package, so a worker imports the same code as its parent.
_PACKAGE_PARENT = str(Path(corpusforge.__file__).resolve().parent.parent)


class WorkerTimeout(Exception):
    """The call ran past its timeout; its worker was killed."""


class WorkerFailed(Exception):
    """The function raised in the worker, or the worker died; the message says which."""


def _serve(target: str) -> None:
    """Worker main loop: requests on fd 0, replies on a private copy of fd 1 (stray prints go to stderr)."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    requests, replies = Connection(0, writable=False), Connection(reply_fd, readable=False)
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    replies.send(("ready", None))
    while True:
        try:
            args = requests.recv()
        except EOFError:
            return
        try:
            replies.send(("ok", fn(*args)))
        except BaseException as exc:  # math-verify's TimeoutException is a BaseException
            replies.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, target: str):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, target], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert self.process.stdin is not None and self.process.stdout is not None  # both are pipes
        self.requests = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.replies = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.requests.close()
        self.replies.close()


class WorkerPool:
    """`call(*args)` runs `target` ("module:function") in one of `size` worker processes."""

    def __init__(self, target: str, size: int = 2, timeout_s: float = 10.0, start_timeout_s: float = 120.0):
        self.target, self.size, self.timeout_s, self.start_timeout_s = target, size, timeout_s, start_timeout_s
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(size):
            self._idle.put(None)  # a slot whose worker starts on first use
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self.restarts = 0

    def _start(self) -> _Worker:
        worker = _Worker(self.target)
        try:
            if not worker.replies.poll(self.start_timeout_s):
                raise WorkerFailed(f"worker for {self.target} did not start in {self.start_timeout_s} s")
            worker.replies.recv()
        except EOFError as exc:
            worker.kill()
            raise WorkerFailed(f"worker for {self.target} died while starting (see its stderr)") from exc
        except WorkerFailed:
            worker.kill()
            raise
        with self._lock:
            self._workers.add(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)
            self.restarts += 1
        self._idle.put(None)

    def call(self, *args: Any, timeout_s: float | None = None) -> Any:
        """The function's result; WorkerTimeout past the timeout, WorkerFailed if it raised or the worker died."""
        worker = self._idle.get()
        try:
            if worker is None:
                worker = self._start()
        except BaseException:
            self._idle.put(None)
            raise
        limit = timeout_s or self.timeout_s
        try:
            worker.requests.send(args)
            if not worker.replies.poll(limit):
                self._retire(worker)
                raise WorkerTimeout(f"no answer within {limit} s")
            status, value = worker.replies.recv()
        except (EOFError, OSError) as exc:
            self._retire(worker)
            raise WorkerFailed(f"worker died: {exc!r}") from exc
        self._idle.put(worker)
        if status == "error":
            raise WorkerFailed(value)
        return value

    def close(self) -> None:
        """Stop every worker; the pool starts new ones if called again."""
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()
        self._idle = queue.SimpleQueue()
        for _ in range(self.size):
            self._idle.put(None)


if __name__ == "__main__":
    _serve(sys.argv[1])
