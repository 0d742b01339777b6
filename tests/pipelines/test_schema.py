"""Config errors stop a run before any work and name the offending field."""

import pytest

from corpusforge.core.config import ConfigError, apply_overrides
from corpusforge.pipelines.schema import load_pipeline, validate_pipeline


def _write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_valid_pipeline_round_trips_stage_fields(tmp_path):
    cfg = load_pipeline(_write(tmp_path, "input: {type: parquet, paths: [a.parquet]}\noutput: out\n"))
    assert cfg.input.paths == ["a.parquet"]
    assert validate_pipeline(cfg.model_dump(mode="json")).digest() == cfg.digest()


@pytest.mark.parametrize(
    "text, field",
    [
        ("input: {type: parquet}\noutput: o\n", "paths"),
        ("input: {type: parquet, paths: [a]}\noutput: o\nengine: {workers: 0}\n", "engine.workers"),
        ("input: {type: parquet, paths: [a]}\noutput: o\nstages: [{type: nope}]\n", "stages[0].type"),
        ("input: {type: parquet, paths: [a]}\noutput: o\nbogus: 1\n", "bogus"),
        ("input: {type: parquet, paths: [a]}\n", "output"),
        ("input: [unclosed\n", "cannot read"),
    ],
)
def test_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as e:
        load_pipeline(_write(tmp_path, text))
    assert field in str(e.value)


def test_overrides_reach_nested_fields_and_list_items():
    data = {"engine": {"workers": 1}, "stages": [{"type": "a", "x": 1}]}
    apply_overrides(data, ["engine.workers=4", "stages.0.x=[1, 2]", "output=s3://b/p"])
    assert data == {"engine": {"workers": 4}, "stages": [{"type": "a", "x": [1, 2]}], "output": "s3://b/p"}


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["engine.workers"])
