"""Verifiable instructions for RL prompts: the 25 IFEval instruction types, kwargs drawn at random, described in words.

Each entry draws IFEval-shaped kwargs (the same names and value ranges as IFEval's `build_description`) and says
in plain words what the checker in synthetic/verifiers/ifeval will test. Pairs that cannot both hold are never
drawn together (IFEval's conflict table, in spirit: case changes against each other and against anything that
dictates exact words; formats that fix the whole response against every other format).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from corpusforge.synthetic.verifiers.ifeval import CHECKERS

_KEYWORDS = [
    "river",
    "garden",
    "signal",
    "balance",
    "window",
    "journey",
    "harvest",
    "lantern",
    "pattern",
    "market",
    "engine",
    "shadow",
    "bridge",
    "compass",
    "orbit",
    "ledger",
    "meadow",
    "canvas",
]
_FIRST_WORDS = ["first", "today", "however", "imagine", "consider", "finally", "because", "often"]
_RELATIONS = ["less than", "at least"]
_LANGUAGES = {"de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese"}
_ENDINGS = ["Is there anything else I can help with?", "Any other questions?", "That is all for now."]

Draw = Callable[[random.Random, str], tuple[dict[str, Any], str]]


def _relation_text(relation: str, n: int, unit: str) -> str:
    return f"fewer than {n} {unit}" if relation == "less than" else f"at least {n} {unit}"


def _words(rng: random.Random, prompt: str) -> tuple[dict, str]:
    rel, n = rng.choice(_RELATIONS), rng.choice([50, 80, 120, 200, 300])
    return {"relation": rel, "num_words": n}, f"Your answer must contain {_relation_text(rel, n, 'words')}."


def _sentences(rng: random.Random, prompt: str) -> tuple[dict, str]:
    rel, n = rng.choice(_RELATIONS), rng.randint(2, 8)
    return {"relation": rel, "num_sentences": n}, f"Write {_relation_text(rel, n, 'sentences')}."


def _paragraphs(rng: random.Random, prompt: str) -> tuple[dict, str]:
    n = rng.randint(2, 4)
    return {"num_paragraphs": n}, f"Write exactly {n} paragraphs, separated from each other by the divider ***."


def _nth_first_word(rng: random.Random, prompt: str) -> tuple[dict, str]:
    n = rng.randint(2, 4)
    k, word = rng.randint(1, n), rng.choice(_FIRST_WORDS)
    return (
        {"num_paragraphs": n, "nth_paragraph": k, "first_word": word},
        f'Write exactly {n} paragraphs separated by blank lines; paragraph {k} must start with the word "{word}".',
    )


def _existence(rng: random.Random, prompt: str) -> tuple[dict, str]:
    kws = rng.sample(_KEYWORDS, 2)
    return {"keywords": kws}, f'Include the keywords "{kws[0]}" and "{kws[1]}" in your answer.'


def _frequency(rng: random.Random, prompt: str) -> tuple[dict, str]:
    kw, rel, n = rng.choice(_KEYWORDS), rng.choice(_RELATIONS), rng.randint(1, 3)
    return (
        {"keyword": kw, "frequency": n, "relation": rel},
        f'The word "{kw}" must appear {_relation_text(rel, n, "times")} in your answer.',
    )


def _forbidden(rng: random.Random, prompt: str) -> tuple[dict, str]:
    words = rng.sample(["very", "really", "thing", "stuff", "basically", "good", "bad", "nice"], 2)
    return {"forbidden_words": words}, f'Do not use the words "{words[0]}" or "{words[1]}" anywhere.'


def _letter(rng: random.Random, prompt: str) -> tuple[dict, str]:
    letter, rel, n = rng.choice("abcdeilmnoprst"), rng.choice(_RELATIONS), rng.randint(3, 12)
    return (
        {"letter": letter, "let_frequency": n, "let_relation": rel},
        f'The letter "{letter}" must appear {_relation_text(rel, n, "times")} in your answer.',
    )


def _language(rng: random.Random, prompt: str) -> tuple[dict, str]:
    code = rng.choice(sorted(_LANGUAGES))
    return {"language": code}, f"Write your whole answer in {_LANGUAGES[code]}, and no other language."


def _placeholders(rng: random.Random, prompt: str) -> tuple[dict, str]:
    n = rng.randint(1, 3)
    return (
        {"num_placeholders": n},
        f"Include at least {n} placeholder{'s' if n > 1 else ''} in square brackets, such as [address].",
    )


def _postscript(rng: random.Random, prompt: str) -> tuple[dict, str]:
    marker = rng.choice(["P.S.", "P.P.S"])
    return {"postscript_marker": marker}, f"End with a postscript that starts with {marker}"


def _bullets(rng: random.Random, prompt: str) -> tuple[dict, str]:
    n = rng.randint(2, 5)
    return (
        {"num_bullets": n},
        f'Answer with exactly {n} bullet points in markdown, each on its own line starting with "* ".',
    )


def _constrained(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, (
        'Answer with one of these exact phrases: "My answer is yes.", "My answer is no.", "My answer is maybe."'
    )


def _highlights(rng: random.Random, prompt: str) -> tuple[dict, str]:
    n = rng.randint(1, 3)
    parts = f"{n} part{'s' if n > 1 else ''}"
    return {"num_highlights": n}, f"Highlight at least {parts} of your answer with markdown, *like this*."


def _sections(rng: random.Random, prompt: str) -> tuple[dict, str]:
    splitter, n = rng.choice(["Section", "SECTION", "Part"]), rng.randint(2, 4)
    return (
        {"section_spliter": splitter, "num_sections": n},
        f'Divide your answer into {n} sections, marking the start of each with "{splitter} X" (X its number).',
    )


def _json(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Wrap your entire answer in JSON; you may use markdown ticks such as ```."


def _title(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Give your answer a title wrapped in double angular brackets, such as <<my title>>."


def _two_responses(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Give two different answers, separated by six asterisks: ******."


def _repeat(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return (
        {"prompt_to_repeat": prompt},
        "First repeat the request above word for word without change, then give your answer (say nothing before "
        "the repeated request, and do not repeat this sentence).",
    )


def _end(rng: random.Random, prompt: str) -> tuple[dict, str]:
    phrase = rng.choice(_ENDINGS)
    return {"end_phrase": phrase}, f'Finish your answer with the exact phrase "{phrase}"; nothing may follow it.'


def _quotation(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Wrap your entire answer in double quotation marks."


def _capital_words(rng: random.Random, prompt: str) -> tuple[dict, str]:
    rel, n = rng.choice(_RELATIONS), rng.randint(2, 10)
    return (
        {"capital_frequency": n, "capital_relation": rel},
        f"Use {_relation_text(rel, n, 'words')} written entirely in capital letters.",
    )


def _all_capitals(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Write your entire answer in English, in capital letters only."


def _all_lowercase(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Write your entire answer in English, in lowercase letters only; no capital letter is allowed."


def _no_comma(rng: random.Random, prompt: str) -> tuple[dict, str]:
    return {}, "Do not use any commas in your answer."


INSTRUCTIONS: dict[str, Draw] = {
    "keywords:existence": _existence,
    "keywords:frequency": _frequency,
    "keywords:forbidden_words": _forbidden,
    "keywords:letter_frequency": _letter,
    "language:response_language": _language,
    "length_constraints:number_sentences": _sentences,
    "length_constraints:number_paragraphs": _paragraphs,
    "length_constraints:number_words": _words,
    "length_constraints:nth_paragraph_first_word": _nth_first_word,
    "detectable_content:number_placeholders": _placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:number_bullet_lists": _bullets,
    "detectable_format:constrained_response": _constrained,
    "detectable_format:number_highlighted_sections": _highlights,
    "detectable_format:multiple_sections": _sections,
    "detectable_format:json_format": _json,
    "detectable_format:title": _title,
    "combination:two_responses": _two_responses,
    "combination:repeat_prompt": _repeat,
    "startend:end_checker": _end,
    "startend:quotation": _quotation,
    "change_case:capital_word_frequency": _capital_words,
    "change_case:english_capital": _all_capitals,
    "change_case:english_lowercase": _all_lowercase,
    "punctuation:no_comma": _no_comma,
}


def undescribed() -> set[str]:
    """Instruction ids the verifiers check that have no description here (and the reverse): empty when in step."""
    return set(INSTRUCTIONS) ^ set(CHECKERS)


# Instructions that fix the whole response's shape or wording: at most one of them per prompt, and none beside
# the case rules or a language.
_WHOLE_RESPONSE = {
    "detectable_format:constrained_response",
    "detectable_format:json_format",
    "combination:two_responses",
    "startend:quotation",
    "combination:repeat_prompt",
}
_CASE = {"change_case:english_capital", "change_case:english_lowercase", "change_case:capital_word_frequency"}
_PARAGRAPHS = {
    "length_constraints:number_paragraphs",
    "length_constraints:nth_paragraph_first_word",
    "detectable_format:multiple_sections",
    "detectable_format:number_bullet_lists",
}
_EXACT_WORDS = {
    "keywords:existence",
    "keywords:frequency",
    "startend:end_checker",
    "detectable_content:postscript",
    "length_constraints:nth_paragraph_first_word",
    "detectable_format:multiple_sections",
    "detectable_format:title",
    "combination:repeat_prompt",
}


def conflicts(a: str, b: str) -> bool:
    """Whether instructions `a` and `b` cannot be asked for together."""
    if a == b:
        return True
    pair = {a, b}
    if pair & _WHOLE_RESPONSE:
        return True
    if len(pair & _CASE) == 2 or len(pair & _PARAGRAPHS) == 2:
        return True
    if pair & _CASE and (pair & _EXACT_WORDS or "language:response_language" in pair):
        return True
    return "language:response_language" in pair and bool(pair & _EXACT_WORDS)


def draw_instructions(
    rng: random.Random, prompt: str, n: int, allowed: list[str] | None = None
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Up to `n` compatible instructions: (instruction ids, kwargs, descriptions)."""
    pool = sorted(allowed or INSTRUCTIONS)
    rng.shuffle(pool)
    ids: list[str] = []
    for iid in pool:
        if len(ids) == n:
            break
        if not any(conflicts(iid, other) for other in ids):
            ids.append(iid)
    drawn = [INSTRUCTIONS[i](rng, prompt) for i in ids]
    return ids, [k for k, _ in drawn], [d for _, d in drawn]
