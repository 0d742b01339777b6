"""Repetition statistics of a document (Gopher, Rae et al. 2021): duplicate lines and paragraphs, and
word n-grams as exact integer ids; shared by the web lane's Gopher rules and the code lane's OpenCoder rules."""

from __future__ import annotations

import numpy as np


def duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in repeated elements) counting every occurrence after the first."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group of each key, size of each group): equal keys share a group, groups numbered in key order."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    starts = np.empty(len(keys), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
    group_sorted = np.cumsum(starts) - 1
    group = np.empty(len(keys), dtype=np.int64)
    group[order] = group_sorted
    return group, np.bincount(group_sorted)


class NGramHashes:
    """Word n-grams of one document as perfect hashes (equal ids exactly where the n-grams are equal), for
    Gopher's n-gram repetition statistics.

    A word's id is the position of its first occurrence (one dict pass; counts by `bincount`, no sort). An
    n-gram can repeat only where both its (n-1)-gram prefix and suffix repeat, so each n is counted only at
    those candidate positions, and there the pair of the two (n-1)-gram ids identifies the n-gram: the
    sorts shrink as n grows and no two different n-grams ever share an id.
    """

    def __init__(self, words: list[str]):
        n = self.n_words = len(words)
        first = dict(zip(reversed(words), range(n - 1, -1, -1)))
        self.word_ids = np.fromiter(map(first.__getitem__, words), dtype=np.int64, count=n)
        # Lengths of the distinct words only, spread to every position through the ids.
        length_of = np.zeros(n, dtype=np.int64)
        length_of[np.fromiter(first.values(), dtype=np.int64, count=len(first))] = np.fromiter(
            map(len, first), dtype=np.int64, count=len(first)
        )
        self.cum_len = np.concatenate(([0], np.cumsum(length_of[self.word_ids])))
        self._ids: dict[int, np.ndarray] = {}
        self._repeated: dict[int, tuple[np.ndarray, np.ndarray, int, int]] = {}

    def repeated(self, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(positions of n-grams occurring 2+ times, their ids, top count, first position of a top n-gram)."""
        if n in self._repeated:
            return self._repeated[n]
        top, top_pos = 1, 0
        if n == 1:
            ids = self.word_ids
            counts = np.bincount(ids, minlength=self.n_words)
            if self.n_words:
                top = int(counts.max())
                if top > 1:
                    # Counter.most_common(1) breaks ties by first insertion: the word seen first, whose id
                    # (its first position) is the smallest.
                    top_pos = int(np.argmax(counts == top))
            multi = np.flatnonzero(counts[ids] > 1)
            result, full = (multi, ids[multi], top, top_pos), ids
        else:
            prev_multi = self.repeated(n - 1)[0]
            prev_ids = self._ids[n - 1]
            n_grams = self.n_words - n + 1
            repeats = np.zeros(n_grams + 2, dtype=bool)
            repeats[prev_multi] = True
            cand = np.flatnonzero(repeats[:n_grams] & repeats[1 : n_grams + 1])
            result, full = (cand, cand, top, top_pos), cand
            if len(cand):
                # Ids of n-1-grams are below n_words, so the pair fits one int64 key.
                group, counts = _groups(prev_ids[cand] * self.n_words + prev_ids[cand + 1])
                per_position = counts[group]
                top = int(counts.max())
                if top > 1:
                    top_pos = int(cand[per_position == top].min())
                keep = per_position > 1
                multi = cand[keep]
                full = np.empty(self.n_words, dtype=np.int64)
                full[multi] = group[keep]
                result = (multi, group[keep], top, top_pos)
        self._ids[n] = full
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
        multi, ids, _, _ = self.repeated(n)
        if not len(multi):
            return 0
        cum = self.cum_len
        spans = (cum[multi + n] - cum[multi]).tolist()
        # An n-gram seen once only moves the cursor on by one, so the scan visits repeats only.
        seen: set[int] = set()
        repeated, cursor = 0, 0
        for p, g, span in zip(multi.tolist(), ids.tolist(), spans):
            if p < cursor:
                continue
            if g in seen:
                repeated += span
                cursor = p + n
            else:
                seen.add(g)
                cursor = p + 1
        return repeated
