"""The runner: tasks per input file, atomic commits, resume after a kill, reruns are no-ops."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

SLOW_STAGE = textwrap.dedent("""
    import time
    from typing import Literal
    from corpusforge.stages.base import Stage, StageConfig

    class SlowUpper(Stage):
        type = "slow_upper"

        class Config(StageConfig):
            type: str = "slow_upper"
            delay: float = 0.0

        def process(self, docs):
            for doc in docs:
                time.sleep(self.config.delay)
                if "drop" in doc.text:
                    self.drop(doc, "asked_to")
                    continue
                doc.text = doc.text.upper()
                yield doc
""")


def _inputs(tmp_path: Path, shards: int = 4, per_shard: int = 20) -> str:
    for s in range(shards):
        docs = [Document(f"s{s}-{i}", f"doc {i} of {s}" + (" drop" if i % 7 == 0 else "")) for i in range(per_shard)]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    return str(tmp_path / "in" / "*.parquet")


def _config(tmp_path, out, delay=0.0, workers=2):
    return {
        "name": "t",
        "output": str(out),
        "engine": {"type": "local", "workers": workers},
        "input": {"type": "parquet", "paths": [_inputs(tmp_path)]},
        "stages": [{"type": "slowmod:SlowUpper", "delay": delay}],
    }


def test_run_writes_data_stats_manifest_report(tmp_path, monkeypatch):
    (tmp_path / "slowmod.py").write_text(SLOW_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = run_pipeline(validate_pipeline(_config(tmp_path, tmp_path / "out")))
    docs = list(iter_output(result.output))
    assert len(docs) == 4 * 17 and all(d.text.isupper() for d in docs)
    stage = result.stages[1]
    assert (stage.docs_in, stage.docs_out, dict(stage.dropped)) == (80, 68, {"asked_to": 12})
    assert all(s.balanced for s in result.stages)
    for name in ("stats.json", "manifest.json", "report.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    manifest = __import__("json").loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["outputs"]) == 4 and all(len(o["sha256"]) == 64 for o in manifest["outputs"])


def test_killed_run_resumes_without_redoing_finished_tasks(tmp_path):
    (tmp_path / "slowmod.py").write_text(SLOW_STAGE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CORPUSFORGE_PROGRESS": "0"}
    import yaml

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    (tmp_path / "k.yaml").write_text(yaml.safe_dump(_config(tmp_path, killed, delay=0.05, workers=1)))
    cli = [sys.executable, "-m", "corpusforge.cli", "run", str(tmp_path / "k.yaml")]
    proc = subprocess.Popen(cli, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = killed / "_work" / "seg0" / "00000.done.json"
    deadline = time.time() + 60
    while not first.exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the first task never committed"
    assert not (killed / "stats.json").exists(), "the run finished before it could be killed"
    committed = {p.name: p.stat().st_mtime_ns for p in (killed / "_work" / "seg0").glob("*.done.json")}

    subprocess.run(cli, env=env, check=True, capture_output=True)
    assert not list(killed.rglob("*.tmp-*")), "the resumed run left a killed writer's temporary behind"
    for name, mtime in committed.items():  # finished tasks were not recomputed
        assert (killed / "_work" / "seg0" / name).stat().st_mtime_ns == mtime
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_config(tmp_path, clean, workers=2)))
    subprocess.run(cli[:-1] + [str(tmp_path / "c.yaml")], env=env, check=True, capture_output=True)
    assert sorted((d.id, d.text) for d in iter_output(str(killed))) == sorted(
        (d.id, d.text) for d in iter_output(str(clean))
    )
    a = __import__("json").loads((killed / "stats.json").read_text())["stages"]
    b = __import__("json").loads((clean / "stats.json").read_text())["stages"]
    assert [(s["docs_in"], s["docs_out"], s["dropped"]) for s in a] == [
        (s["docs_in"], s["docs_out"], s["dropped"]) for s in b
    ]


def test_rerun_of_finished_run_is_a_no_op(tmp_path, monkeypatch):
    (tmp_path / "slowmod.py").write_text(SLOW_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    cfg = validate_pipeline(_config(tmp_path, tmp_path / "out"))
    run_pipeline(cfg)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "data").iterdir()}
    run_pipeline(cfg)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "data").iterdir()} == before


def test_resume_into_output_of_a_different_pipeline_is_refused(tmp_path, monkeypatch):
    (tmp_path / "slowmod.py").write_text(SLOW_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    cfg = _config(tmp_path, tmp_path / "out")
    run_pipeline(validate_pipeline(cfg))
    run_pipeline(validate_pipeline({**cfg, "engine": {"type": "local", "workers": 1}}))  # engine change is fine
    cfg["stages"][0]["delay"] = 0.001
    import pytest

    from corpusforge.core.config import ConfigError

    with pytest.raises(ConfigError, match="different pipeline"):
        run_pipeline(validate_pipeline(cfg))
