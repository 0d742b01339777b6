"""IFEval checkers: each of the 25 instruction types on responses written to follow and to break it, scoring
modes, and agreement with lm-eval's reference checker where that is installed."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from verifier_cases import ifeval_cases, load_ifeval, reference_ifeval

from corpusforge.synthetic.verifiers.ifeval import (
    CHECKERS,
    NEEDS_PUNKT,
    IFEvalVerifier,
    check_instruction,
)
from corpusforge.synthetic.verifiers.ifeval.text import count_sentences, count_words


@pytest.fixture(scope="module")
def items():
    return load_ifeval()


@pytest.fixture(scope="module")
def rows(items):
    return ifeval_cases(items)


def _ours(row: dict) -> bool:
    return bool(row["response"].strip()) and check_instruction(row["instruction_id"], row["response"], row["kwargs"])


def test_every_instruction_type_of_the_data_has_a_checker(items):
    used = {iid for item in items for iid in item["instruction_id_list"]}
    assert used == set(CHECKERS) and len(CHECKERS) == 25


def test_written_responses_are_judged_as_intended(rows):
    judged = [r for r in rows if r["intended"] is not None]
    wrong = Counter(r["instruction_id"] for r in judged if _ours(r) != r["intended"])
    assert {r["instruction_id"] for r in judged} == set(CHECKERS)  # each type has follow and break cases
    assert sum(wrong.values()) <= 0.01 * len(judged), wrong


def test_agreement_with_lm_eval_reference(items, rows):
    check_ref, why = reference_ifeval()
    if check_ref is None:
        pytest.skip(why)
    prompts = {item["key"]: item["prompt"] for item in items}
    agree = total = 0
    for row in rows:
        if row["instruction_id"] in NEEDS_PUNKT:
            continue  # the reference needs NLTK's punkt data, which cannot be fetched offline
        random.seed(0)  # the reference picks a random letter when given a non-letter (IFEval's '#')
        ref = check_ref(row["instruction_id"], row["kwargs"], prompts[row["key"]], row["response"])
        agree += ref == _ours(row)
        total += 1
    assert total > 3000  # 23 instruction types
    assert agree >= 0.99 * total


def test_scoring_all_fraction_and_loose():
    spec = {"kind": "ifeval", "instruction_id_list": ["punctuation:no_comma", "startend:quotation"], "kwargs": [{}, {}]}
    verifier = IFEvalVerifier()
    both = verifier.score('"No commas here."', spec)
    assert (both.value, both.passed, both.reason) == (1.0, True, "followed")
    one = verifier.score("No commas here.", spec)
    assert (one.value, one.passed, one.reason) == (0.0, False, "not_followed:startend:quotation")
    assert verifier.score("No commas here.", {**spec, "grading": "fraction"}).value == 0.5
    wrapped = 'Sure! Here it is:\n"No commas here."'  # the chatty first line breaks strict, not loose
    assert verifier.score(wrapped, spec).value == 0.0
    assert verifier.score(wrapped, {**spec, "loose": True}).value == 1.0
    assert verifier.score("   ", spec).value == 0.0
    assert verifier.score("x", {**spec, "instruction_id_list": ["made:up", "startend:quotation"]}).reason == "bad_spec"


def test_checker_semantics_on_edges():
    assert check_instruction("keywords:existence", "The ARTIST paints.", {"keywords": ["art"]})  # no word boundary
    assert not check_instruction("keywords:forbidden_words", "Art is fine.", {"forbidden_words": ["art"]})
    assert check_instruction("keywords:forbidden_words", "The artist paints.", {"forbidden_words": ["art"]})
    assert check_instruction("length_constraints:number_paragraphs", "a\n***\nb", {"num_paragraphs": 2})
    assert not check_instruction("length_constraints:number_paragraphs", "a\n***\n***\nb", {"num_paragraphs": 2})
    assert check_instruction("detectable_content:postscript", "Hi.\np.p.s. later", {"postscript_marker": "P.P.S"})
    assert check_instruction("detectable_format:number_highlighted_sections", "*a* and **b**", {"num_highlights": 2})
    assert not check_instruction("detectable_format:json_format", "```json\n{'a': 1}\n```", {})
    assert check_instruction("detectable_format:json_format", '```JSON\n{"a": 1}\n```', {})
    assert check_instruction(
        "length_constraints:nth_paragraph_first_word",
        'x\n\n"Wow," she said.',
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "wow"},
    )
    assert check_instruction(
        "language:response_language", "Dies ist ein kurzer Satz auf Deutsch, den wir prüfen.", {"language": "de"}
    )


def test_text_counts():
    assert count_words("It's a well-known fact: 3 words?") == 8
    assert count_sentences("Dr. Smith arrived at 9 a.m. today. He left! Did he? Yes.") == 4
    assert count_sentences("One sentence without end") == 1
