"""The code lane over The Stack-shaped rows (`stack_rows`, code_stack.yaml): the sample's real files as The Stack
v2 Parquet and The Stack v1 JSONL rows, bad rows counted, licenses from the rows, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.code import write_code_sample
from corpusforge.samples.stack import V1_FILE, V2_FILE, write_stack_sample

pytestmark = pytest.mark.slow

STACK_YAML = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "code_stack.yaml"


def test_code_stack_yaml_reads_both_schemas_and_keeps_the_ledger(tmp_path):
    planted = write_code_sample(str(tmp_path / "code"))
    rows = write_stack_sample(str(tmp_path / "code"))
    v2 = pq.read_table(tmp_path / "code" / "stack" / V2_FILE)
    assert {"content", "repo_name", "detected_licenses", "star_events_count"} <= set(v2.column_names)
    assert rows[V2_FILE] == v2.num_rows > 10 and rows[V1_FILE] > 10

    data = yaml.safe_load(STACK_YAML.read_text())
    data["input"]["paths"] = [str(tmp_path / "code" / "stack" / "*")]
    data["output"] = str(tmp_path / "runs" / "code-stack")
    for stage in data["stages"]:
        if stage["type"] == "decontaminate":
            stage["benchmarks"][0]["path"] = str(tmp_path / "code" / "eval" / "humaneval.jsonl")
    result = run_pipeline(validate_pipeline(data), engine=LocalEngine(workers=2))
    stats = json.loads(Path(result.stats_path).read_text())
    assert stats["balanced"]
    st = {s["name"]: s for s in stats["stages"]}
    # the truncated line and the row without content are each counted, and the run went on
    assert st["stack_rows"]["dropped"] == {"invalid_json": 1, "missing_text": 1}
    assert st["stack_rows"]["docs_out"] == rows[V2_FILE] + rows[V1_FILE] - 2
    # licenses come from the rows' columns: tld's GPL/LGPL/MPL rows are dropped, MIT and BSD kept
    dropped = {r.split(":", 1)[1] for r in st["license_filter"]["dropped"]}
    assert {"GPL-2.0-only", "GPL-3.0-only", "MPL-2.0"} & dropped
    assert {"MIT", "BSD-3-Clause"} <= set(st["license_filter"]["extra"]["licenses"])
    assert st["code_secrets"]["extra"]["secrets_redacted"]
    docs = list(iter_output(result.output))
    repos = {d.meta["repo"] for d in docs}
    v1_repos = {json.loads(line)["max_stars_repo_name"] for line in _json_lines(tmp_path / "code" / "stack" / V1_FILE)}
    assert repos & set(v2.column("repo_name").to_pylist()) and repos & v1_repos  # both schemas made documents
    assert all(d.meta.get("repo_stars") is not None and d.annotations.get("quality_tier") for d in docs)
    text = "\n".join(d.text for d in docs)
    for name, value in planted["secrets"].items():
        assert (value.splitlines()[1] if name == "private_key" else value) not in text, name


def _json_lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("max_stars_repo_name"):
            out.append(line)
    return out
