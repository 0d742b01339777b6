"""Code verifier: HumanEval canonical solutions pass, mutants fail, stdin/stdout and call-based tests."""

from __future__ import annotations

import pytest
from verifier_cases import code_mutants, load_humaneval

from corpusforge.synthetic.verifiers.base import CodeSpec
from corpusforge.synthetic.verifiers.code import (
    CodeVerifier,
    CodeVerifierConfig,
    extract_code,
    stdout_matches,
)
from corpusforge.synthetic.verifiers.sandbox import SandboxConfig


@pytest.fixture(scope="module")
def verifier():
    v = CodeVerifier(CodeVerifierConfig(sandbox=SandboxConfig(wall_timeout_s=10, cpu_timeout_s=5), workers=2))
    yield v
    v.close()


@pytest.fixture(scope="module")
def problems():
    return load_humaneval()[::4][:40]


def _spec(problem: dict) -> CodeSpec:
    return CodeSpec(test=problem["test"], entry_point=problem["entry_point"], prompt=problem["prompt"])


def test_humaneval_canonical_solutions_pass(verifier, problems):
    failed = [
        (p["task_id"], r.reason)
        for p in problems
        if not (r := verifier.score(p["canonical_solution"], _spec(p))).passed
    ]
    assert not failed


def test_humaneval_mutants_fail(verifier, problems):
    mutants = [(p, name, src) for p in problems[:20] for name, src in code_mutants(p)]
    survivors = [
        (p["task_id"], name) for p, name, src in mutants if verifier.score(f"```python\n{src}\n```", _spec(p)).passed
    ]
    assert len(mutants) >= 50
    # A survivor can be an equivalent mutant (the benchmark lists them); most must be killed.
    assert len(survivors) <= 0.15 * len(mutants), survivors


def test_full_function_in_a_fence_replaces_the_prompt(verifier, problems):
    p = problems[0]
    full = p["prompt"] + p["canonical_solution"]
    assert verifier.score(f"Here you go:\n```python\n{full}\n```\nDone.", _spec(p)).passed


def test_early_exit_is_not_a_pass(verifier, problems):
    spec = _spec(problems[0])
    for trick in ("    import sys\n    sys.exit(0)\n", "    import os\n    os._exit(0)\n", "    raise SystemExit\n"):
        reward = verifier.score(trick, spec)
        assert not reward.passed and reward.reason in {"no_result", "runtime_error"}, (trick, reward)


def test_stdin_stdout_tests(verifier):
    spec = {"kind": "code", "inputs": ["1 2\n", "10 -3\n", "0 0\n"], "outputs": ["3\n", "7", "0\n"]}
    assert verifier.score("a, b = map(int, input().split())\nprint(a + b)\n", spec).passed
    wrong = verifier.score("a, b = map(int, input().split())\nprint(a - b)\n", spec)
    assert (wrong.value, wrong.reason) == (0.0, "wrong_answer")
    crash = verifier.score("print(1 / 0)\n", spec)
    assert crash.reason == "runtime_error"


def test_call_based_tests_nemo_gym_layout(verifier):
    spec = {
        "kind": "code",
        "fn_name": "twoSum",
        "inputs": ["[2, 7, 11, 15]\n9", "[3, 2, 4]\n6"],
        "outputs": ["[0, 1]", "[1, 2]"],
    }
    solution = (
        "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
        "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], i]\n            seen[x] = i\n```"
    )
    assert verifier.score(solution, spec).passed
    plain = {"kind": "code", "fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [3, 10]}
    assert verifier.score("def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    input()\n", plain).passed
    assert verifier.score("def add(a, b):\n    return (a + b, )\n", plain).reason == "wrong_answer"


def test_timeout_is_named(verifier):
    reward = CodeVerifier(CodeVerifierConfig(sandbox=SandboxConfig(wall_timeout_s=1, cpu_timeout_s=1))).score(
        "while True:\n    pass\n", {"kind": "code", "inputs": ["\n"], "outputs": [""]}
    )
    assert reward.reason in {"cpu_limit", "timeout"} and reward.value == 0.0


def test_extract_code_and_output_comparison():
    assert extract_code("a\n```python\nx = 1\n```\nb\n```py\ny = 2\n```\n") == "y = 2\n"
    assert extract_code("print(1)") == "print(1)"
    assert stdout_matches("1 2\n3  \n\n", "1 2\n3")
    assert stdout_matches("0.3333333", "0.33333333")
    assert not stdout_matches("1 2", "1 3")


def test_bad_spec_is_refused():
    with pytest.raises(ValueError, match="entry_point"):
        CodeSpec(test="def check(f): pass")
    with pytest.raises(ValueError, match="outputs"):
        CodeSpec(inputs=["1"], outputs=[])
