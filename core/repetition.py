"""Repetition statistics of a document (Gopher, Rae et al. 2021): duplicate lines and paragraphs, and
word n-grams as 64-bit hashes; shared by the web lane's Gopher rules and the code lane's OpenCoder rules."""

from __future__ import annotations

import numpy as np

_NGRAM_MULT = np.uint64(0x9E3779B97F4A7C15)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in repeated elements) counting every occurrence after the first."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


class NGramHashes:
    """Word n-grams of one document as 64-bit hashes, for Gopher's n-gram repetition statistics.

    An n-gram can repeat only where both its (n-1)-gram prefix and suffix repeat, so each n is
    counted only at those candidate positions: the sorts shrink as n grows.
    """

    def __init__(self, words: list[str]):
        self.n_words = len(words)
        self.unigrams = np.fromiter(map(hash, words), dtype=np.int64, count=self.n_words).view(np.uint64)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=self.n_words)
        self.cum_len = np.concatenate(([0], np.cumsum(lengths)))
        self._hashes = {1: self.unigrams}
        self._repeated: dict[int, tuple[np.ndarray, np.ndarray, int, int]] = {}

    def hashes(self, n: int) -> np.ndarray:
        if n not in self._hashes:
            prev = self.hashes(n - 1)
            self._hashes[n] = prev[:-1] * _NGRAM_MULT + self.unigrams[n - 1 :]
        return self._hashes[n]

    def repeated(self, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(positions of n-grams occurring 2+ times, their hashes, top count, first position of a top n-gram)."""
        if n in self._repeated:
            return self._repeated[n]
        h = self.hashes(n)
        if n == 1:
            cand = np.arange(len(h))
        else:
            prev = np.zeros(len(h) + 1, dtype=bool)
            prev[self.repeated(n - 1)[0]] = True
            cand = np.flatnonzero(prev[:-1] & prev[1:])
        top, top_pos = 1, 0
        if len(cand):
            _, first, inverse, counts = np.unique(h[cand], return_index=True, return_inverse=True, return_counts=True)
            top = int(counts.max())
            if top > 1:
                # Counter.most_common(1) breaks ties by first insertion: the earliest n-gram.
                top_pos = int(cand[first[counts == top]].min())
            cand = cand[counts[inverse] > 1]
        result = (cand, h[cand], top, top_pos)
        self._repeated[n] = result
        return result

    def top_ngram_chars(self, n: int) -> int:
        """Characters covered by the most frequent n-gram (its space-joined length times its count)."""
        if self.n_words < n:
            return 0
        _, _, top, i = self.repeated(n)
        return (int(self.cum_len[i + n] - self.cum_len[i]) + n - 1) * top

    def covered_chars(self, n: int) -> int:
        """Characters of the words inside some repeated n-gram: a bound on `duplicate_ngram_chars` of every n' >= n.

        A repeated n'-gram is only looked for where its two (n'-1)-grams repeat (`repeated`), so its words
        lie inside repeated n-grams; the scan counts non-overlapping repeats, so it cannot count more.
        """
        if self.n_words < n:
            return 0
        multi = self.repeated(n)[0]
        if not len(multi):
            return 0
        edges = np.zeros(self.n_words + 1, dtype=np.int64)
        edges[multi] += 1
        edges[multi + n] -= 1
        inside = np.cumsum(edges[:-1]) > 0
        return int(np.diff(self.cum_len)[inside].sum())

    def duplicate_ngram_chars(self, n: int) -> int:
        """Characters in repeated n-grams, scanning left to right and jumping over each repeat."""
        if self.n_words < n:
            return 0
        multi, hs, _, _ = self.repeated(n)
        if not len(multi):
            return 0
        cum = self.cum_len
        spans = (cum[multi + n] - cum[multi]).tolist()
        # An n-gram seen once only moves the cursor on by one, so the scan visits repeats only.
        seen: set[int] = set()
        repeated, cursor = 0, 0
        for p, g, span in zip(multi.tolist(), hs.tolist(), spans):
            if p < cursor:
                continue
            if g in seen:
                repeated += span
                cursor = p + n
            else:
                seen.add(g)
                cursor = p + 1
        return repeated
