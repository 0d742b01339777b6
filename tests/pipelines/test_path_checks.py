"""Every path a config names is checked before any work; a failed attempt that committed nothing is replaceable."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core import storage
from corpusforge.core.config import ConfigError
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

FAILING_STAGE = """
from corpusforge.stages.base import Stage, StageConfig

class Flaky(Stage):
    type = "flaky"

    class Config(StageConfig):
        type: str = "flaky"
        fail: bool = False

    def setup(self):
        if self.config.fail:
            raise RuntimeError("model folder is empty")
"""


def _inputs(tmp_path: Path) -> str:
    for s in range(2):
        docs = [Document(f"{s}-{i}", f"t {i}") for i in range(5)]
        storage.write_documents(str(tmp_path / "in" / f"{s}.parquet"), docs)
    return str(tmp_path / "in" / "*.parquet")


def test_missing_paths_stop_the_run_before_anything_is_written(tmp_path):
    config = {
        "name": "paths",
        "output": str(tmp_path / "out"),
        "input": {"type": "parquet", "paths": [_inputs(tmp_path), str(tmp_path / "nowhere" / "*.parquet")]},
        "stages": [
            {"type": "url_filter", "blocklists": [str(tmp_path / "block.txt")]},
            {"type": "quality", "classifiers": {"dclm": str(tmp_path / "models" / "dclm")}},
            {"type": "decontaminate", "benchmarks": [{"name": "gsm8k", "path": str(tmp_path / "gsm8k.jsonl")}]},
        ],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2, result.output
    for field in (
        "input (parquet).paths[1]: no file matches",
        "stages[0] (url_filter).blocklists[0]",
        "stages[1] (quality).classifiers.dclm",
        "stages[2] (decontaminate).benchmarks[0].path",
    ):
        assert field in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing written: no pipeline.json, no index, no lease


def test_an_attempt_that_committed_nothing_is_replaced_by_the_corrected_config(tmp_path, monkeypatch):
    (tmp_path / "flakymod.py").write_text(FAILING_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {
        "name": "fix",
        "output": str(tmp_path / "out"),
        "engine": {"type": "local", "workers": 1},
        "input": {"type": "parquet", "paths": [_inputs(tmp_path)]},
        "stages": [{"type": "flakymod:Flaky", "fail": True}],
    }
    with pytest.raises(RuntimeError, match="model folder is empty"):
        run_pipeline(validate_pipeline(config))
    assert (tmp_path / "out" / "_work" / "pipeline.json").exists()  # the failed attempt recorded its config
    config["stages"][0]["fail"] = False  # the operator fixes the config: a different pipeline digest
    result = run_pipeline(validate_pipeline(config))
    assert len(list(iter_output(result.output))) == 10
    config["name"] = "another"  # now tasks are committed: a different pipeline is refused
    with pytest.raises(ConfigError, match="different pipeline"):
        run_pipeline(validate_pipeline(config))
