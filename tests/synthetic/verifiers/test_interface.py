"""The uniform interface: one `score(response, spec)` for every kind, specs as plain JSON."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from corpusforge.synthetic.verifiers import (
    CodeSpec,
    IFEvalSpec,
    MathSpec,
    Reward,
    Verifiers,
    parse_spec,
)


@pytest.fixture(scope="module")
def verifiers():
    v = Verifiers()
    yield v
    v.close()


def test_dispatch_by_kind(verifiers):
    math = verifiers.score(r"Thus $\boxed{\dfrac{3}{4}}$.", {"kind": "math", "answer": "0.75"})
    assert isinstance(math, Reward) and math.passed
    ifeval = verifiers.score(
        "all lowercase and plain english words here for you",
        {"kind": "ifeval", "instruction_id_list": ["change_case:english_lowercase"]},
    )
    assert ifeval.passed
    if os.geteuid() == 0:
        code = verifiers.score("print(int(input()) * 2)", {"kind": "code", "inputs": ["21\n"], "outputs": ["42"]})
        assert code.passed and code.value == 1.0


def test_specs_round_trip_as_json():
    for spec in (
        MathSpec(answer="3"),
        CodeSpec(inputs=["1"], outputs=["1"]),
        IFEvalSpec(instruction_id_list=["punctuation:no_comma"]),
    ):
        assert parse_spec(spec.model_dump()) == spec


def test_unknown_kind_is_refused(verifiers):
    with pytest.raises(ValidationError):
        verifiers.score("x", {"kind": "chess", "answer": "e4"})
    with pytest.raises(ValidationError, match="kwargs"):
        IFEvalSpec(instruction_id_list=["a", "b"], kwargs=[{}])


def test_a_verifier_refuses_another_kinds_spec(verifiers):
    with pytest.raises(ValueError, match="'code' spec was given to the 'ifeval' verifier"):
        verifiers.get("ifeval").score("x", CodeSpec(inputs=["1"], outputs=["1"]))
