"""Two runs started together on one output: one writes, the other is refused with the holder named."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output

pytestmark = pytest.mark.slow

SLOW_STAGE = textwrap.dedent("""
    import time
    from corpusforge.stages.base import Stage, StageConfig

    class Slow(Stage):
        type = "slow"

        class Config(StageConfig):
            type: str = "slow"
            delay: float = 0.0

        def process(self, docs):
            for doc in docs:
                time.sleep(self.config.delay)
                yield doc
""")


def test_two_runs_on_one_output_one_is_refused_and_the_output_is_whole(tmp_path):
    (tmp_path / "slowmod.py").write_text(SLOW_STAGE)
    for s in range(4):
        docs = [Document(f"s{s}-{i}", f"text {i % 5} of shard" if i % 2 else f"unique {s}/{i}") for i in range(30)]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    config = {
        "name": "two",
        "output": str(tmp_path / "out"),
        "engine": {"type": "local", "workers": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "slowmod:Slow", "delay": 0.02}, {"type": "exact_dedup", "buckets": 4}],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "CORPUSFORGE_PROGRESS": "0",
    }
    cli = [sys.executable, "-m", "corpusforge.cli", "run", str(tmp_path / "p.yaml")]
    runs = [subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, err))
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, err in results if code == 1)
    winner = next(proc for proc, (code, _) in zip(runs, results) if code == 0)
    assert "is in use by another run" in refused and f"pid {winner.pid} " in refused
    assert len(refused.strip().splitlines()) == 1  # one line, no traceback
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["balanced"] and stats["stages"][0]["docs_in"] == 120
    assert len(list(iter_output(str(tmp_path / "out")))) == stats["stages"][-1]["docs_out"]
    assert not (tmp_path / "out" / "_work" / "lease.json").exists()
    # once the first has finished, the same command runs (a no-op rerun) instead of being refused
    again = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
