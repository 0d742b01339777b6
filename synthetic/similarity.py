"""ROUGE-L between instructions: Self-Instruct's novelty test (keep a new instruction only below 0.7 against all).

Tokens as `rouge_score`'s default tokenizer makes them (lower-cased, runs of letters and digits, no stemming,
which is how Self-Instruct calls it); the score is the LCS F-measure. A pool checks a candidate against every
instruction it holds, skipping those whose length or shared-word count bounds the score below the threshold.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence length (dynamic programming over the shorter sequence)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(a: str | list[str], b: str | list[str]) -> float:
    """ROUGE-L F-measure of two texts (or token lists)."""
    ta = tokens(a) if isinstance(a, str) else a
    tb = tokens(b) if isinstance(b, str) else b
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(tb), lcs / len(ta)
    return 2 * p * r / (p + r)


class RougePool:
    """Instructions seen so far; `most_similar` is the highest ROUGE-L of a candidate against them."""

    def __init__(self, texts: Iterable[str] = ()):
        self._items: list[tuple[list[str], Counter]] = []
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, text: str) -> None:
        toks = tokens(text)
        self._items.append((toks, Counter(toks)))

    def most_similar(self, text: str, threshold: float) -> float:
        """The first score at or over `threshold`, else the best below it among pairs that could reach it."""
        cand = tokens(text)
        if not cand:
            return 0.0
        counts = Counter(cand)
        best = 0.0
        for toks, tcounts in self._items:
            # LCS <= shared words and <= the shorter length: F <= 2 * bound / (len_a + len_b)
            shared = sum((counts & tcounts).values())
            if 2 * shared / (len(cand) + len(toks)) < threshold:
                continue
            score = rouge_l(cand, toks)
            best = max(best, score)
            if best >= threshold:
                break
        return best
