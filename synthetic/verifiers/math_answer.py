"""Final-answer extraction and the normalisation we apply before math-verify compares two answers.

Extraction order: the last `\\boxed{}` / `\\fbox{}` (balanced braces), then the last "The answer is ..." /
"Final answer: ...", then GSM8K's "#### ...", then the last number. Normalisation removes what math-verify
does not: currency and unit words, `\\text{}` units, LaTeX spacing and sizing commands, thousands separators.
"""

from __future__ import annotations

import re

_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed\s+([^\s$]+)")
_ANSWER_IS = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE)
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_HASHES = re.compile(r"####\s*(.+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_DELIMITERS = re.compile(r"^\s*(?:\$+|\\\(|\\\[)\s*|\s*(?:\$+|\\\)|\\\])\s*$")
# A matrix row break `\\\\` is kept (group 1); `\\!` (negative space) joins, the other spacing becomes a space.
_SPACING = re.compile(r"(\\\\)|(\\!)|\\[,;:> ]|\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])|~")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|textnormal|operatorname)\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d*,)")
_THIN_SPACE_GROUPS = re.compile(r"(\d)(?:\\,|\\ |\u2009)(?=\d{3}(?!\d))")
_PLAIN_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:/\d+)?"
_UNIT_WORD = r"[a-zA-Z]{2,}\.?(?:\^\{?\d\}?)?"
_TRAILING_UNITS = re.compile(rf"^({_PLAIN_NUMBER})\s*(?:{_UNIT_WORD}\s*)+$")
_LEADING_WORDS = re.compile(rf"^(?:[a-zA-Z]+\s*=\s*)?(?:\\?\$\s*)?({_PLAIN_NUMBER})$")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°")


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` or `\\fbox{...}` with balanced braces, or of `\\boxed x`."""
    starts = list(_BOX_START.finditer(text))
    for match in reversed(starts):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[match.end() : i - 1].strip()
    bare = list(_BOX_BARE.finditer(text))
    return bare[-1].group(1) if bare else None


def _clean_sentence_answer(answer: str) -> str:
    """The answer stated after "The answer is": up to its closing `$`, or to the end of its sentence."""
    answer = answer.strip()
    if answer.startswith("$"):
        closing = _UNESCAPED_DOLLAR.search(answer, 1)
        if closing:
            answer = answer[: closing.end()]
    answer = re.split(r"\.\s|;\s", answer, maxsplit=1)[0]  # "5. Let me check: ..." states 5
    return answer.rstrip(" .")


def extract_answer(response: str) -> str | None:
    """The final answer stated in a model response, or None when there is none."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    stated = list(_ANSWER_IS.finditer(response))
    if stated:
        return _clean_sentence_answer(stated[-1].group(1))
    hashes = list(_HASHES.finditer(response))
    if hashes:
        return hashes[-1].group(1).strip()
    numbers = _NUMBER.findall(response)
    return numbers[-1].rstrip(",") if numbers else None


def reference_answer(answer: str) -> str:
    """A reference answer as stored: a worked solution (last box, or after '####') or the bare answer."""
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed
    if "####" in answer:
        return answer.rsplit("####", 1)[1].strip()
    return answer.strip()


def _strip_text_commands(answer: str) -> str:
    """`\\text{ cm}` units go; a whole-answer `\\text{Evelyn}` keeps its words."""
    outside = _TEXT_CMD.sub("", answer).strip()
    if outside and re.search(r"[\d\\]", outside):
        return _TEXT_CMD.sub(" ", answer)
    return _TEXT_CMD.sub(lambda m: m.group(1), answer)


def normalize_answer(answer: str) -> str:
    """Our layer before math-verify: delimiters, spacing, units, currency, degrees, thousands separators."""
    text = answer.strip()
    for _ in range(2):
        text = _DELIMITERS.sub("", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", "")
    text = _THIN_SPACE_GROUPS.sub(r"\1", text)
    text = text.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    text = _SPACING.sub(lambda m: m.group(1) or ("" if m.group(2) else " "), text)
    text = _DEGREES.sub("", text)
    text = _strip_text_commands(text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    if not re.search(r"[\[\](){}]|\\\{", text):
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    for pattern in (_TRAILING_UNITS, _LEADING_WORDS):
        match = pattern.match(text)
        if match:
            text = match.group(1)
    return text
