"""Math verifier: extraction, normalisation, and equivalence on restated and perturbed real answers."""

from __future__ import annotations

import pytest
from verifier_cases import (
    load_gsm8k,
    load_math500,
    math_perturbations,
    math_restatements,
)

from corpusforge.synthetic.verifiers.math import MathVerifier, MathVerifierConfig
from corpusforge.synthetic.verifiers.math_answer import (
    extract_answer,
    normalize_answer,
    reference_answer,
)
from corpusforge.synthetic.verifiers.worker_pool import (
    WorkerFailed,
    WorkerPool,
    WorkerTimeout,
)


@pytest.fixture(scope="module")
def verifier():
    v = MathVerifier(MathVerifierConfig(workers=2, timeout_s=30))  # generous: a loaded CI box must not time out
    yield v
    v.close()


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        (r"so $\boxed{\frac{1}{2}}$ and finally \boxed{\frac{\sqrt{3}}{2}}.", r"\frac{\sqrt{3}}{2}"),
        (r"\fbox{(1, \{2\})}", r"(1, \{2\})"),
        (r"thus \boxed 7", "7"),
        ("The answer is: $\\$32,\\!348$ total.", "$\\$32,\\!348$"),
        ("Final answer: 12 apples.", "12 apples"),
        ("So the answer is 5. Let me double-check: 2 + 3 = 5", "5"),
        ("The answer is 3.5 dollars; done.", "3.5 dollars"),
        ("Work...\n#### 1,234", "1,234"),
        ("She has 3 cats and 4 dogs, 7 pets.", "7"),
        ("no numbers here", None),
    ],
)
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1,450,000", "1450000"),
        (r"7\,400", "7400"),
        (r"10,\!080", "10080"),
        (r"1{,}000", "1000"),
        (r"5\text{ cm}", "5"),
        ("18 dollars", "18"),
        (r"\$18", "18"),
        (r"90^\circ", "90"),
        ("x = 5", "5"),
        (r"\text{Evelyn}", "Evelyn"),
        (r"\dfrac{17}{50}", r"\frac{17}{50}"),
        (r"\left( 3, \pi \right)", "( 3, \\pi )"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
        ("(1,234)", "(1,234)"),
    ],
)
def test_normalize_answer(raw, normal):
    assert normalize_answer(raw) == normal


def test_reference_answer_reads_worked_solutions():
    assert reference_answer("Adds up.\n#### 72") == "72"
    assert reference_answer(r"So $\boxed{\frac{1}{4}}$.The answer is: \frac14") == r"\frac{1}{4}"
    assert reference_answer(" 3/4 ") == "3/4"


def _confusion(verifier, items):
    restated = perturbed = accepted_restated = rejected_perturbed = 0
    misjudged = []
    for item in items:
        for response in math_restatements(item["answer"]):
            restated += 1
            ok = verifier.score(response, {"kind": "math", "answer": item["answer"]}).passed
            accepted_restated += ok
            if not ok:
                misjudged.append((item["answer"], response))
        for response in math_perturbations(item["answer"]):
            perturbed += 1
            ok = verifier.score(response, {"kind": "math", "answer": item["answer"]}).passed
            rejected_perturbed += not ok
            if ok:
                misjudged.append((item["answer"], response))
    return restated, accepted_restated, perturbed, rejected_perturbed, misjudged


@pytest.mark.parametrize("loader", [load_gsm8k, load_math500], ids=["gsm8k", "math500"])
def test_restated_gold_correct_and_perturbed_rejected(verifier, loader):
    items = loader()
    sample = items[:: max(1, len(items) // 100)][:100]
    restated, ok, perturbed, rejected, misjudged = _confusion(verifier, sample)
    assert restated > 500 and perturbed > 200
    assert ok == restated, misjudged[:5]
    assert rejected >= 0.99 * perturbed, misjudged[:5]


def test_reasons(verifier):
    spec = {"kind": "math", "answer": r"\frac{1}{2}"}
    assert verifier.score("I cannot say.", spec).reason == "no_answer"
    wrong = verifier.score(r"\boxed{0.6}", spec)
    assert (wrong.value, wrong.reason) == (0.0, "wrong_answer")
    right = verifier.score(r"\boxed{0.5}", spec)
    assert (right.value, right.passed, right.reason) == (1.0, True, "correct")


def test_a_comparison_that_hangs_is_a_timeout():
    # SymPy would take forever on this tower; math-verify's own timer (or our kill) stops it and we say so.
    verifier = MathVerifier(MathVerifierConfig(workers=1, timeout_s=3))
    try:
        slow = verifier.score(r"\boxed{10^{10^{10^{10}}}}", {"kind": "math", "answer": "3"})
    finally:
        verifier.close()
    assert (slow.value, slow.reason) == (0.0, "timeout")


def test_pool_kills_a_hung_worker_and_replaces_it():
    pool = WorkerPool("time:sleep", size=1, timeout_s=0.5)
    try:
        with pytest.raises(WorkerTimeout):
            pool.call(30)
        assert pool.restarts == 1
        assert pool.call(0) is None  # a fresh worker answers
        with pytest.raises(WorkerFailed, match="TypeError"):
            pool.call("not a number")
        assert pool.call(0) is None  # an error in the function does not cost the worker
        assert pool.restarts == 1
    finally:
        pool.close()
