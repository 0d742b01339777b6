"""Killed runs leave temporaries and scratch folders; the resumed run removes them and leaves only its outputs."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output

pytestmark = pytest.mark.slow

HANGING_STAGE = """
import os, time
from corpusforge.stages.base import Stage, StageConfig

class HangOnce(Stage):
    type = "hang_once"

    class Config(StageConfig):
        type: str = "hang_once"

    def process(self, docs):
        for i, doc in enumerate(docs):
            if i == 10 and os.environ.get("HANG"):
                time.sleep(600)  # a task stuck mid-write: its temporaries are open when the run is killed
            yield doc
"""


def _leftovers(out: Path, scratch_root: Path) -> tuple[list[Path], list[str]]:
    temps = [p for p in out.rglob("*") if ".tmp-" in p.name]
    scratch = [n for n in os.listdir(scratch_root) if n.startswith("corpusforge-local-")]
    return temps, scratch


def test_resumed_run_removes_what_killed_runs_left(tmp_path, request):
    (tmp_path / "hangmod.py").write_text(HANGING_STAGE)
    for s in range(3):
        docs = [Document(f"s{s}-{i}", f"text {i % 7} of the shard" if i % 2 else f"unique {s}/{i}") for i in range(40)]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    out = tmp_path / "out"
    config = {
        "name": "leaks",
        "output": str(out),
        "engine": {"type": "local", "workers": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "hangmod:HangOnce"}, {"type": "exact_dedup", "buckets": 4}],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    # A short TMPDIR: the local engine's process manager puts a unix socket there, and those paths are capped
    # at 108 bytes (an xdist worker's tmp_path is already close).
    scratch_root = Path(tempfile.mkdtemp(prefix="cf-leaks-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(scratch_root, ignore_errors=True))
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "CORPUSFORGE_PROGRESS": "0",
        "TMPDIR": str(scratch_root),
    }
    cli = [sys.executable, "-m", "corpusforge.cli", "run", str(tmp_path / "p.yaml")]
    logs = []
    for n in range(2):  # killed twice while tasks hold open temporaries
        logs.append(tmp_path / f"killed{n}.log")
        with open(logs[-1], "wb") as log:
            proc = subprocess.Popen(cli, env={**env, "HANG": "1"}, start_new_session=True, stdout=log, stderr=log)
        deadline = time.time() + 300  # a loaded CI box can take minutes to start the run
        while time.time() < deadline and proc.poll() is None and not all(_leftovers(out, scratch_root)):
            time.sleep(0.1)
        exited = proc.poll()
        assert exited is None, f"run {n} exited ({exited}) before it was killed:\n{logs[-1].read_text()[-3000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    temps, scratch = _leftovers(out, scratch_root)
    # (the second run already removed the first one's scratch folder: its driver is dead)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert temps and len(scratch) == 1, f"the kills left no temporaries: {files}\n{logs[0].read_text()[-3000:]}"

    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _leftovers(out, scratch_root) == ([], [])
    assert not (out / "_work" / "lease.json").exists()


def test_a_sigterm_to_the_driver_stops_its_workers_and_frees_the_output(tmp_path, request):
    """`kill PID` of a run (a scheduler's timeout) leaves no process computing and no lease behind."""
    import psutil

    (tmp_path / "hangmod.py").write_text(HANGING_STAGE)
    for s in range(2):
        docs = [Document(f"s{s}-{i}", f"text {i}") for i in range(30)]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    out = tmp_path / "out"
    config = {
        "name": "sigterm",
        "output": str(out),
        "engine": {"type": "local", "workers": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "hangmod:HangOnce"}],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    scratch_root = Path(tempfile.mkdtemp(prefix="cf-term-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(scratch_root, ignore_errors=True))
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "CORPUSFORGE_PROGRESS": "0",
        "TMPDIR": str(scratch_root),
    }
    cli = [sys.executable, "-m", "corpusforge.cli", "run", str(tmp_path / "p.yaml")]
    log = tmp_path / "run.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(cli, env={**env, "HANG": "1"}, start_new_session=True, stdout=f, stderr=f)
    request.addfinalizer(lambda: _kill_group(proc.pid))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not all(_leftovers(out, scratch_root)):
        time.sleep(0.1)
    assert proc.poll() is None, log.read_text()[-3000:]
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert len(descendants) >= 2  # the pool's workers (hanging in their tasks) and multiprocess's helpers

    proc.send_signal(signal.SIGTERM)  # the driver alone, not its process group
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    _, alive = psutil.wait_procs(descendants, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
    assert not (out / "_work" / "lease.json").exists()  # released on the way out: the next run need not wait

    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list(iter_output(str(out)))) == 60


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
