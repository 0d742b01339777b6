"""Math and code content detectors: a score in [0, 1] from the density of domain signals.

OpenWebMath (Paster et al. 2023, §3.1) first keeps pages that show math at all -- LaTeX, math
delimiters, math vocabulary -- and then scores them with a classifier (MathScore). No such model
can be downloaded here, so the score is the prefilter's signals weighted and squashed: density of
LaTeX commands and delimiters, arithmetic expressions and equations, and math vocabulary per
1,000 characters. The code score does the same with the line shapes of source code (the
signals of The Stack / StarCoder's data filters: braces, semicolons, keywords, indentation).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

# Scores use at most this many characters: the signals are dense where they exist at all.
MAX_CHARS = 20_000

_LATEX = re.compile(
    r"\\(?:frac|sum|int|sqrt|alpha|beta|gamma|delta|theta|lambda|sigma|pi|infty|cdot|times|leq|geq|"
    r"neq|mathbb|mathrm|begin\{(?:equation|align)|left|right|partial|lim|log|sin|cos|binom)\b"
)
_DELIMS = re.compile(r"\$\$|\\\(|\\\[|(?<![\w$])\$[^$\n]{1,80}\$")
_ARITH = re.compile(r"\d+(?:\.\d+)?\s*[-+*/×÷^=<>]\s*\(?\d+(?:\.\d+)?|<<[^<>]{1,40}>>|\b[a-z]\s*[=^]\s*\d")
_EQUATION = re.compile(r"[=≤≥≠±√∑∫π]")
_MATH_WORDS = re.compile(
    r"\b(?:theorem|lemma|proof|corollary|equation|integer|polynomial|derivative|integral|matrix|vector|"
    r"probability|prime|fraction|solve|calculate|total|sum|product|remainder|divisible|multiply|divide|"
    r"percent|ratio|angle|triangle|perimeter|area|radius|function|variable|coefficient)s?\b",
    re.IGNORECASE,
)

_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|if .*:\s*$|elif |else:|for .* in .*:|while .*:|"
    r"#include|public |private |static |function\b|const |let |var |fn |func |package |using |#!/|@\w+)"
    r"|[;{}]\s*$|^\s{4,}\S|^\s*(?://|#|/\*|\*)\s",
    re.MULTILINE,
)
_CODE_TOKENS = re.compile(r"==|!=|->|=>|::|\+\+|&&|\|\||\w\(\)|\w\[[\w\"']*\]|\w\.\w+\(|_\w+_")


def _squash(density: float, half: float) -> float:
    """Map a non-negative density to [0, 1): `half` maps to 0.5."""
    return 1.0 - math.exp(-math.log(2) * density / half)


def math_score(text: str) -> float:
    """How much of the text is mathematics, in [0, 1]."""
    t = text[:MAX_CHARS]
    kchars = max(len(t), 200) / 1000.0
    density = (
        3.0 * len(_LATEX.findall(t))
        + 3.0 * len(_DELIMS.findall(t))
        + 1.5 * len(_ARITH.findall(t))
        + 0.5 * len(_EQUATION.findall(t))
        + 0.5 * len(_MATH_WORDS.findall(t))
    ) / kchars
    return _squash(density, half=6.0)


def code_score(text: str) -> float:
    """How much of the text is source code, in [0, 1]."""
    t = text[:MAX_CHARS]
    lines = max(t.count("\n") + 1, 1)
    line_share = len(_CODE_LINE.findall(t)) / lines
    kchars = max(len(t), 200) / 1000.0
    token_density = len(_CODE_TOKENS.findall(t)) / kchars
    return _squash(2.0 * line_share + 0.1 * token_density, half=0.5)


class DomainScorer:
    """Scores a batch of texts for one domain (`math` or `code`)."""

    def __init__(self, domain: str):
        if domain not in ("math", "code"):
            raise ValueError(f"unknown domain {domain!r} (math, code)")
        self.kind = domain
        self._fn = math_score if domain == "math" else code_score

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One score in [0, 1] per text."""
        return np.fromiter((self._fn(t) for t in texts), dtype=np.float32, count=len(texts))
