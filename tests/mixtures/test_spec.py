"""Blend validation: typed errors that name the field, and unsatisfiable sources explained before work."""

from __future__ import annotations

import copy

import pytest

from corpusforge.core.config import ConfigError
from corpusforge.mixtures.export import run_mix
from corpusforge.mixtures.spec import check_feasibility, load_blend, validate_blend


@pytest.fixture
def good(tmp_path, corpus, tokenizer_json, make_blend):
    return make_blend(corpus, tmp_path / "out", tokenizer_json)


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as e:
        validate_blend(data)
    return str(e.value)


def test_valid_blend_plans_phase_budgets(good):
    spec = validate_blend(good)
    assert spec.phase_tokens() == {"phase1": 36000, "phase2": 24000}
    assert sum(spec.requested_tokens()["math"].values()) == pytest.approx(36000 * 0.2 + 24000 * 0.4)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["phases"][0]["weights"].update(web_high=0.5), "phases.0: Value error, weights must sum to 1"),
        (lambda d: d["phases"][1]["weights"].update(books=0.0), "phases.1.weights: unknown sources ['books']"),
        (lambda d: d["phases"][1].update(fraction=0.5), "fractions must sum to 1, they sum to 1.1"),
        (
            lambda d: d["sources"]["math"].update(max_epochs=0),
            "sources.math.max_epochs: Input should be greater than 0",
        ),
        (lambda d: d["sources"]["math"]["where"].update(tier=["x"]), "sources.math.where.tier: Extra inputs"),
        (lambda d: d.update(token_budget=-5), "token_budget: Input should be greater than 0"),
        (lambda d: d["tokenizer"].update(train_vocab_size=1000), "tokenizer: Value error, set exactly one of `path`"),
        (lambda d: d["phases"][1].update(name="phase1"), "names must be unique"),
        (lambda d: d["phases"][0]["weights"].update(web_low=-0.1, web_high=0.9), "weights must be >= 0"),
    ],
)
def test_field_named_errors(good, mutate, expected):
    data = copy.deepcopy(good)
    mutate(data)
    assert expected in _error(data)


def test_source_without_weight_is_an_error(good):
    data = copy.deepcopy(good)
    data["sources"]["extra"] = {"paths": ["x.parquet"]}
    assert "sources: ['extra'] have no weight in any phase" in _error(data)


def test_load_blend_with_overrides(tmp_path, good):
    import yaml

    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(good))
    assert load_blend(path, ["seed=99", "sources.math.max_epochs=3"]).seed == 99
    with pytest.raises(ConfigError, match="token_budget"):
        load_blend(path, ["token_budget=zero"])


def test_feasibility_explains_the_small_source(good):
    spec = validate_blend(good)
    # math asks for 16,800 tokens; 4,000 tokens at max_epochs 2 give at most 8,000.
    with pytest.raises(ConfigError) as e:
        check_feasibility(
            spec, {"web_high": 10**6, "web_low": 10**6, "math": 4000}, {"web_high": 10, "web_low": 10, "math": 20}
        )
    msg = str(e.value)
    assert "sources.math:" in msg and "web_high" not in msg
    assert "16,800 tokens" in msg and "max_epochs 2 allows at most 8,000" in msg
    assert "need 4.20 epochs" in msg and "raise sources.math.max_epochs to >= 4.20" in msg


def test_unsatisfiable_blend_fails_before_tokenizing(good, tmp_path):
    data = copy.deepcopy(good)
    data["token_budget"] = 600_000  # math (~106k tokens) at one epoch cannot give 168k
    data["sources"]["math"]["max_epochs"] = 1
    data["sources"]["nothing"] = {"paths": [good["sources"]["math"]["paths"][0]], "where": {"language": ["xx"]}}
    data["phases"][0]["weights"] = {"web_high": 0.2, "web_low": 0.5, "math": 0.2, "nothing": 0.1}
    with pytest.raises(ConfigError) as e:
        run_mix(validate_blend(data))
    msg = str(e.value)
    assert "sources.math: weights ask for 168,000 tokens (phase1: 72,000, phase2: 96,000)" in msg
    assert "the source holds ~" in msg and "sources.web_high" not in msg and "sources.web_low" not in msg
    assert "sources.nothing: no documents match `where`" in msg
    # nothing was tokenized or written
    out = tmp_path / "out"
    assert not (out / "_work" / "tokens").exists() and not (out / "phase1").exists()


def test_missing_files_named(good):
    data = copy.deepcopy(good)
    data["sources"]["math"]["paths"] = ["/nonexistent/*.parquet"]
    with pytest.raises(ConfigError, match=r"sources.math.paths: no Parquet files match"):
        run_mix(validate_blend(data))


def test_example_blend_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "mixtures" / "examples" / "demo_blend.yaml"
    spec = load_blend(example)
    assert [p.name for p in spec.phases] == ["phase1", "phase2"] and spec.tokenizer.train_vocab_size
