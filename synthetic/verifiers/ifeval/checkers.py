"""The 25 IFEval instruction checkers (Zhou et al. 2023, google-research/instruction_following_eval).

Each checker is `check(response, **kwargs) -> bool` with IFEval's keyword arguments (`instruction_id_list` and
`kwargs` of the input data). Semantics follow the reference: regexes, comparison relations ("less than" is <,
"at least" is >=) and string conventions are IFEval's, so verdicts agree with it (benchmarks/verifiers.py).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable

from corpusforge.synthetic.verifiers.ifeval.text import (
    count_sentences,
    count_words,
    word_tokens,
)

RELATIONS = ("less than", "at least")
CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


# langdetect's detector factory is process-wide state (profiles, seed): concurrent detections from several
# threads (the difficulty filter scores rollouts on a thread pool) occasionally disagree without this lock.
_LANGDETECT_LOCK = threading.Lock()


class InstructionError(ValueError):
    """An instruction id we do not know, or kwargs it cannot be built from."""


def _compare(count: int, relation: str, threshold: int) -> bool:
    if relation == "less than":
        return count < threshold
    if relation == "at least":
        return count >= threshold
    raise InstructionError(f"relation must be one of {RELATIONS}, got {relation!r}")


def _detect_language(text: str) -> str | None:
    """langdetect's language code (seeded, so repeated calls agree), or None when it cannot tell."""
    import langdetect

    with _LANGDETECT_LOCK:
        langdetect.DetectorFactory.seed = 0
        try:
            return langdetect.detect(text)
        except langdetect.LangDetectException:
            return None


def response_language(response: str, language: str) -> bool:
    """language:response_language: the whole response is in `language` (IFEval: undetectable passes)."""
    return _detect_language(response) in (None, language)


def number_sentences(response: str, num_sentences: int, relation: str) -> bool:
    """length_constraints:number_sentences."""
    return _compare(count_sentences(response), relation, num_sentences)


def number_placeholders(response: str, num_placeholders: int) -> bool:
    """detectable_content:number_placeholders: at least N `[placeholder]`s."""
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


def number_bullet_lists(response: str, num_bullets: int) -> bool:
    """detectable_format:number_bullet_lists: exactly N markdown bullets (`* ` or `- ` lines)."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


def constrained_response(response: str) -> bool:
    """detectable_format:constrained_response: contains one of "My answer is yes/no/maybe."."""
    return any(option in response.strip() for option in CONSTRAINED_RESPONSES)


def number_highlighted_sections(response: str, num_highlights: int) -> bool:
    """detectable_format:number_highlighted_sections: at least N `*highlighted*` parts (`**x**` counts too)."""
    singles = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    doubles = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(singles) + len(doubles) >= num_highlights


def multiple_sections(response: str, section_spliter: str, num_sections: int) -> bool:
    """detectable_format:multiple_sections: at least N parts introduced by "<spliter> <number>"."""
    parts = re.split(r"\s?" + section_spliter.strip() + r"\s?\d+\s?", response)
    return len(parts) - 1 >= num_sections


def number_paragraphs(response: str, num_paragraphs: int) -> bool:
    """length_constraints:number_paragraphs: exactly N paragraphs separated by `***`, none empty inside."""
    parts = re.split(r"\s?\*\*\*\s?", response)
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i not in (0, len(parts) - 1):
                return False
            count -= 1
    return count == num_paragraphs


def postscript(response: str, postscript_marker: str) -> bool:
    """detectable_content:postscript: a line starting with the marker ("P.S.", "P.P.S", ...)."""
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + marker.lower() + r".*$"
    return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


def keyword_existence(response: str, keywords: list[str]) -> bool:
    """keywords:existence: every keyword occurs (case-insensitive, as a regex, no word boundary)."""
    return all(re.search(k, response, flags=re.IGNORECASE) for k in keywords)


def keyword_frequency(response: str, keyword: str, frequency: int, relation: str) -> bool:
    """keywords:frequency."""
    return _compare(len(re.findall(keyword.strip(), response, flags=re.IGNORECASE)), relation, frequency)


def number_words(response: str, num_words: int, relation: str) -> bool:
    """length_constraints:number_words."""
    return _compare(count_words(response), relation, num_words)


def json_format(response: str) -> bool:
    """detectable_format:json_format: the response (fences allowed) parses as JSON."""
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        if text.startswith(fence):
            text = text[len(fence) :]
            break
    text = text.removesuffix("```")
    try:
        json.loads(text.strip())
    except ValueError:
        return False
    return True


def nth_paragraph_first_word(response: str, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    """length_constraints:nth_paragraph_first_word: N paragraphs (blank-line separated), the nth starting so."""
    paragraphs = response.split("\n\n")
    count = sum(1 for p in paragraphs if p.strip())
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    letters = []
    for ch in word:
        if ch in ".,?!'\"":
            break
        letters.append(ch.lower())
    return count == num_paragraphs and "".join(letters) == first_word.lower()


def forbidden_words(response: str, forbidden_words: list[str]) -> bool:
    """keywords:forbidden_words: none of the words occurs as a whole word (case-insensitive)."""
    return not any(re.search(r"\b" + w + r"\b", response, flags=re.IGNORECASE) for w in set(forbidden_words))


def two_responses(response: str) -> bool:
    """combination:two_responses: exactly two different responses separated by `******`."""
    parts = response.split("******")
    valid = []
    for i, part in enumerate(parts):
        if part.strip():
            valid.append(part)
        elif i not in (0, len(parts) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def repeat_prompt(response: str, prompt_to_repeat: str) -> bool:
    """combination:repeat_prompt: the response starts with the request, repeated word for word."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def end_checker(response: str, end_phrase: str) -> bool:
    """startend:end_checker: the response ends with the phrase (ignoring case and enclosing quotes)."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def title(response: str) -> bool:
    """detectable_format:title: a non-empty `<<title>>`."""
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


def letter_frequency(response: str, letter: str, let_frequency: int, let_relation: str) -> bool:
    """keywords:letter_frequency: occurrences of one letter, case-insensitive."""
    return _compare(Counter(response.lower())[letter.strip().lower()], let_relation, let_frequency)


def english_capital(response: str) -> bool:
    """change_case:english_capital: all capitals, in English."""
    return response.isupper() and _detect_language(response) in (None, "en")


def english_lowercase(response: str) -> bool:
    """change_case:english_lowercase: all lowercase, in English."""
    return response.islower() and _detect_language(response) in (None, "en")


def no_comma(response: str) -> bool:
    """punctuation:no_comma."""
    return "," not in response


def capital_word_frequency(response: str, capital_frequency: int, capital_relation: str) -> bool:
    """change_case:capital_word_frequency: words written in all capitals."""
    return _compare(sum(1 for t in word_tokens(response) if t.isupper()), capital_relation, capital_frequency)


def quotation(response: str) -> bool:
    """startend:quotation: the whole response is wrapped in double quotes."""
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


CHECKERS: dict[str, Callable[..., bool]] = {
    "keywords:existence": keyword_existence,
    "keywords:frequency": keyword_frequency,
    "keywords:forbidden_words": forbidden_words,
    "keywords:letter_frequency": letter_frequency,
    "language:response_language": response_language,
    "length_constraints:number_sentences": number_sentences,
    "length_constraints:number_paragraphs": number_paragraphs,
    "length_constraints:number_words": number_words,
    "length_constraints:nth_paragraph_first_word": nth_paragraph_first_word,
    "detectable_content:number_placeholders": number_placeholders,
    "detectable_content:postscript": postscript,
    "detectable_format:number_bullet_lists": number_bullet_lists,
    "detectable_format:constrained_response": constrained_response,
    "detectable_format:number_highlighted_sections": number_highlighted_sections,
    "detectable_format:multiple_sections": multiple_sections,
    "detectable_format:json_format": json_format,
    "detectable_format:title": title,
    "combination:two_responses": two_responses,
    "combination:repeat_prompt": repeat_prompt,
    "startend:end_checker": end_checker,
    "startend:quotation": quotation,
    "change_case:capital_word_frequency": capital_word_frequency,
    "change_case:english_capital": english_capital,
    "change_case:english_lowercase": english_lowercase,
    "punctuation:no_comma": no_comma,
}
# Instructions whose reference counts with NLTK's Punkt model (no offline copy): ours use text.py's rules.
NEEDS_PUNKT = frozenset({"length_constraints:number_sentences", "change_case:capital_word_frequency"})


def check_instruction(instruction_id: str, response: str, kwargs: dict) -> bool:
    """Whether `response` follows one instruction; kwargs with None values are ignored (as IFEval does)."""
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        raise InstructionError(f"unknown IFEval instruction id {instruction_id!r}")
    args = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return bool(checker(response, **args))
    except TypeError as exc:
        raise InstructionError(f"{instruction_id}: bad kwargs {sorted(args)}: {exc}") from exc
