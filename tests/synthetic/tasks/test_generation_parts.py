"""The generators' deterministic parts: list parsing, ROUGE-L, exact template arithmetic, IFEval instruction draws."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from corpusforge.synthetic.generation import parse_list, yes_no
from corpusforge.synthetic.similarity import RougePool, rouge_l
from corpusforge.synthetic.tasks.ifeval_instructions import INSTRUCTIONS, conflicts, draw_instructions, undescribed
from corpusforge.synthetic.tasks.rl_prompts import MathTemplate, draw_problem, evaluate, labelled_parts
from corpusforge.synthetic.verifiers import Verifiers


def test_lists_are_parsed_from_numbered_bulleted_json_and_plain_replies():
    assert parse_list('Here are three topics:\n1. Tides\n2) Rainbows\n3. "Volcanoes"\n') == [
        "Tides",
        "Rainbows",
        "Volcanoes",
    ]
    assert parse_list("- a cat\n* a dog\n• a cat\n") == ["a cat", "a dog"]
    assert parse_list('["x", "y"]') == ["x", "y"]
    assert parse_list("Sure, here they are:\nfirst line\nsecond line") == ["first line", "second line"]
    assert parse_list("") == []
    assert (yes_no("Yes, it is."), yes_no("**No**"), yes_no("maybe")) == (True, False, None)


def test_rouge_l_matches_the_definition_and_the_pool_finds_near_copies():
    assert rouge_l("write a poem about the sea", "write a poem about the sea") == 1.0
    # LCS 5 of 6 and 6 tokens: P = R = 5/6
    assert rouge_l("write a poem about the sea", "write a poem about the ocean") == pytest.approx(5 / 6)
    assert rouge_l("a b c d", "d c b a") == pytest.approx(0.25)
    assert rouge_l("", "anything") == 0.0
    pool = RougePool(["Write a poem about the sea.", "List three uses of copper."])
    assert pool.most_similar("Write a short poem about the sea", 0.7) >= 0.7
    assert pool.most_similar("Explain how tides form", 0.7) < 0.7


def test_rouge_l_agrees_with_rouge_score_where_installed():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [
        ("Give me three names for a bakery.", "Suggest three names for a new bakery in town."),
        ("Explain photosynthesis to a child", "Explain to a child what photosynthesis is"),
        ("Sort these numbers: 3, 1, 2", "Translate 'good morning' into French"),
    ]
    for a, b in pairs:
        assert rouge_l(a, b) == pytest.approx(scorer.score(a, b)["rougeL"].fmeasure)


def test_template_arithmetic_is_exact_and_refuses_code():
    assert evaluate("(a - r) / x", {"a": 10, "r": 1, "x": 3}) == Fraction(3)
    assert evaluate("a * b > c and not c == 0", {"a": 2, "b": 3, "c": 5}) is True
    for bad in ("__import__('os')", "a.real", "[1, 2]", "2 ** 100"):
        with pytest.raises(ValueError):
            evaluate(bad, {"a": 1})
    template = MathTemplate(
        id="t",
        text="{n} boxes of {k} cost ${p} each box. Total?",
        answer="n * p",
        vars={"n": "2..5", "k": ["pens", "cups"], "p": "3..9"},
        require="n * p > 10",
    )
    rng = random.Random(0)
    for _ in range(20):
        text, answer = draw_problem(template, rng)
        n, p = int(text.split()[0]), int(text.split("$")[1].split()[0])
        assert int(answer) == n * p > 10
    never = MathTemplate(id="f", text="{a}", answer="a / 2", vars={"a": "1..1"})
    assert draw_problem(never, rng) is None  # 1/2 is not an integer answer: no valid draw


def test_labelled_parts_of_a_teacher_reply():
    parts = labelled_parts("Problem: Tom has 3 apples.\nHe eats one.\nSolution: 3 - 1 = 2\nAnswer: 2")
    assert parts == {"problem": "Tom has 3 apples.\nHe eats one.", "solution": "3 - 1 = 2", "answer": "2"}


def test_every_verifier_instruction_is_described_and_draws_are_valid_specs():
    assert undescribed() == set()
    verifiers = Verifiers()
    try:
        for seed in range(60):
            rng = random.Random(seed)
            ids, kwargs, texts = draw_instructions(rng, "Describe a lighthouse.", 3)
            assert 1 <= len(ids) <= 3 and len(texts) == len(ids)
            assert not any(conflicts(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
            reward = verifiers.score(
                "A lighthouse stands on the rock.", {"kind": "ifeval", "instruction_id_list": ids, "kwargs": kwargs}
            )
            assert reward.reason != "bad_spec", (ids, kwargs)
        every = {i for s in range(300) for i in draw_instructions(random.Random(s), "x", 1)[0]}
        assert every == set(INSTRUCTIONS)
    finally:
        verifiers.close()
