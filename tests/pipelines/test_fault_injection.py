"""kill -9 of the whole run at random points of every segment, then a resume: the output equals an uninterrupted run's.

The pipeline has every kind of step the runner resumes: sub-file input tasks (Parquet split by row groups), a
per-document stage, exact dedup and fuzzy dedup (global steps with file shuffles and many reduce tasks). Kill
points are drawn (seeded) over the run's progress, measured in committed markers, so they land in the reading
segment, in both resolves and in the last segment.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id, to_table
from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
KILLS = 4


def _corpus(root: str) -> None:
    """Real article text with exact and near copies planted across files, written in small row groups."""
    truth = json.loads((DATA / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    texts = [truth[k]["articleBody"] for k in sorted(truth) if len(truth[k]["articleBody"]) > 400][:60]
    docs = [Document(make_id("web", f"a{i}"), t) for i, t in enumerate(texts)]
    docs += [Document(make_id("web", f"copy{i}"), texts[i * 3].upper()) for i in range(10)]
    docs += [Document(make_id("web", f"near{i}"), texts[i * 5].replace(" the ", " a ", 1)) for i in range(10)]
    random.Random(3).shuffle(docs)
    for f in range(3):
        table = to_table(docs[f::3])
        with storage.atomic_write(storage.join(root, f"{f}.parquet")) as out:
            pq.write_table(table, out, row_group_size=5, compression="zstd")


def _config(inputs: str, output: str, fuzzy: bool = True) -> dict:
    stages = [{"type": "pii_normalize"}, {"type": "exact_dedup", "buckets": 3}]
    return {
        "name": "faults",
        "output": output,
        "engine": {"type": "local", "workers": 1},
        "input": {"type": "parquet", "paths": [inputs], "task_bytes": 30_000},
        "stages": stages + ([{"type": "fuzzy_dedup", "partitions": 3}] if fuzzy else []),
    }


def _cli(tmp_path: Path, config: dict, name: str) -> list[str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return [sys.executable, "-m", "corpusforge.cli", "run", str(path)]


def _markers(output: str) -> int:
    """Units committed so far under the run's work folder (one listing, also on S3)."""
    fs, p = storage.filesystem(storage.join(output, "_work"))
    fs.invalidate_cache()
    try:
        return sum(name.endswith(".done.json") for name in fs.find(p))
    except FileNotFoundError:
        return 0


def _result(output: str) -> tuple[dict, list]:
    """sha256 of every output document file, and the ledger without timings."""
    files = {
        p.rsplit("/", 1)[-1]: hashlib.sha256(storage.read_bytes(p)).hexdigest()
        for p in storage.expand([storage.join(output, "data", "*.parquet")])
    }
    stats = json.loads(storage.read_text(storage.join(output, "stats.json")))
    ledger = [{k: v for k, v in s.items() if k not in ("seconds", "extra")} for s in stats["stages"]]
    return files, ledger


def _kill_at(cli: list[str], env: dict, output: str, markers: int, timeout: float = 120) -> bool:
    """Start the run and kill its process group once `markers` units have committed; False if it finished."""
    proc = subprocess.Popen(cli, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if _markers(output) >= markers:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    proc.wait()
    return False


def test_killed_runs_resume_to_the_uninterrupted_output(tmp_path):
    _corpus(str(tmp_path / "in"))
    env = {**os.environ, "CORPUSFORGE_PROGRESS": "0"}
    clean = str(tmp_path / "clean")
    run_pipeline(validate_pipeline(_config(str(tmp_path / "in" / "*.parquet"), clean)))
    total = _markers(clean)
    expected = _result(clean)
    assert len(expected[0]) > 6  # split input: more tasks than files
    dropped = {s["name"]: s["dropped"] for s in json.loads(storage.read_text(f"{clean}/stats.json"))["stages"]}
    assert dropped["exact_dedup"] and dropped["fuzzy_dedup"]  # both global steps had work

    killed = str(tmp_path / "killed")
    cli = _cli(tmp_path, _config(str(tmp_path / "in" / "*.parquet"), killed), "killed")
    rng = random.Random(21)
    # one kill point in each quarter of the run's progress: reading, exact resolve, fuzzy resolve, last segment
    points = sorted(int(total * (q + rng.random()) / KILLS) + 1 for q in range(KILLS))
    kills = 0
    for point in points:
        kills += _kill_at(cli, env, killed, point)
    assert kills >= KILLS - 1, "the run finished before most kill points"
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _result(killed) == expected
    assert not [p for p in Path(killed).rglob("*") if ".tmp-" in p.name]
    assert not (Path(killed) / "_work" / "lease.json").exists()


def test_a_run_killed_on_s3_resumes_to_the_local_output(s3_server, tmp_path):
    _corpus(str(tmp_path / "in"))
    env = {**os.environ, "CORPUSFORGE_PROGRESS": "0"}
    local = str(tmp_path / "local")
    run_pipeline(validate_pipeline(_config(str(tmp_path / "in" / "*.parquet"), local, fuzzy=False)))
    for f in range(3):
        with storage.atomic_write(f"{s3_server}/in/{f}.parquet") as out:
            out.write((tmp_path / "in" / f"{f}.parquet").read_bytes())
    remote = f"{s3_server}/out"
    cli = _cli(tmp_path, _config(f"{s3_server}/in/*.parquet", remote, fuzzy=False), "s3")
    point = int(_markers(local) * random.Random(5).uniform(0.3, 0.7))
    assert _kill_at(cli, env, remote, point), "the run finished before the kill point"
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _result(remote) == _result(local)
