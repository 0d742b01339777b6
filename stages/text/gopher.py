"""Gopher quality and repetition heuristics (Rae et al. 2021, "Scaling Language Models", App. A).

Same rules, order and defaults as datatrove's GopherQualityFilter and GopherRepetitionFilter
(the FineWeb recipe), with spaCy word splitting replaced by `text_words.split_words` and the
n-gram statistics computed on hashed n-grams with numpy instead of joined strings.
"""
from __future__ import annotations

import re

import numpy as np

from corpusforge.core.document import Document
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.text.words import PUNCTUATION_CHARS, PUNCTUATION_SET, words_of

# Gopher's stop words (Rae et al. 2021, A.1.1): a document needs at least two of them.
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
_HAS_ALPHA = re.compile(r"[^\W\d_]").search
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}").split
_LINE_SPLIT = re.compile(r"\n+").split
# Odd 64-bit multiplier of the polynomial n-gram hash.
_NGRAM_MULT = np.uint64(0x9E3779B97F4A7C15)


class GopherQuality(Filter):
    """Drops documents failing Gopher's quality rules (length, word length, symbols, bullets, stop words)."""

    type = "gopher_quality"
    config: Config

    class Config(StageConfig):
        # Defaults: Gopher (Rae et al. 2021) A.1.1, as in datatrove's GopherQualityFilter / FineWeb.
        min_doc_words: int | None = 50
        max_doc_words: int | None = 100_000
        min_avg_word_length: float | None = 3
        max_avg_word_length: float | None = 10
        max_symbol_word_ratio: float | None = 0.1
        max_bullet_lines_ratio: float | None = 0.9
        max_ellipsis_lines_ratio: float | None = 0.3
        # datatrove's `max_non_alpha_words_ratio`: the minimum share of words with a letter.
        min_alpha_words_ratio: float | None = 0.8
        min_stop_words: int | None = 2
        stop_words: list[str] = GOPHER_STOP_WORDS

    def setup(self) -> None:
        self._stop_words = frozenset(self.config.stop_words)

    def reject(self, doc: Document) -> str | None:
        c = self.config
        text = doc.text
        words = words_of(text)
        n_words = len(words)
        punct, punct_set = PUNCTUATION_CHARS, PUNCTUATION_SET
        # Most words start with a non-punctuation character: test that before the slower strip.
        non_symbol = [w for w in words if w[0] not in punct_set or w.strip(punct)]
        n_non_symbol = len(non_symbol)

        if c.min_doc_words and n_non_symbol < c.min_doc_words:
            return "gopher_short_doc"
        if c.max_doc_words and n_non_symbol > c.max_doc_words:
            return "gopher_long_doc"
        if n_non_symbol:
            avg_len = sum(map(len, non_symbol)) / n_non_symbol
            if c.min_avg_word_length and avg_len < c.min_avg_word_length:
                return "gopher_avg_word_length_low"
            if c.max_avg_word_length and avg_len > c.max_avg_word_length:
                return "gopher_avg_word_length_high"
        if not n_words:
            return "gopher_short_doc"
        if c.max_symbol_word_ratio:
            if text.count("#") / n_words > c.max_symbol_word_ratio:
                return "gopher_hash_ratio"
            if (text.count("...") + text.count("…")) / n_words > c.max_symbol_word_ratio:
                return "gopher_ellipsis_ratio"
        lines = text.splitlines()
        if lines:
            if c.max_bullet_lines_ratio:
                bullets = sum(1 for s in lines if s.lstrip().startswith(("•", "-")))
                if bullets / len(lines) > c.max_bullet_lines_ratio:
                    return "gopher_bullet_lines"
            if c.max_ellipsis_lines_ratio:
                ellipsis = sum(1 for s in lines if s.rstrip().endswith(("...", "…")))
                if ellipsis / len(lines) > c.max_ellipsis_lines_ratio:
                    return "gopher_ellipsis_lines"
        if c.min_alpha_words_ratio:
            has_alpha = _HAS_ALPHA
            n_alpha = sum(1 for w in words if w.isalpha() or has_alpha(w))
            if n_alpha / n_words < c.min_alpha_words_ratio:
                return "gopher_alpha_words"
        if c.min_stop_words:
            present = set(words)
            if sum(1 for s in self._stop_words if s in present) < c.min_stop_words:
                return "gopher_stop_words"
        return None


class GopherRepetition(Filter):
    """Drops documents with too many repeated lines, paragraphs or n-grams (Gopher table A1)."""

    type = "gopher_repetition"
    config: Config

    class Config(StageConfig):
        # Defaults: Gopher (Rae et al. 2021) table A1, as in datatrove's GopherRepetitionFilter.
        dup_line_frac: float | None = 0.3
        dup_para_frac: float | None = 0.3
        dup_line_char_frac: float | None = 0.2
        dup_para_char_frac: float | None = 0.2
        top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
        dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]

    def reject(self, doc: Document) -> str | None:
        c = self.config
        text = doc.text
        if not text:
            return "gopher_empty"
        n_chars = len(text)

        paragraphs = _PARAGRAPH_SPLIT(text.strip())
        dups, dup_chars = duplicates(paragraphs)
        if c.dup_para_frac and dups / len(paragraphs) > c.dup_para_frac:
            return "gopher_dup_para_frac"
        if c.dup_para_char_frac and dup_chars / n_chars > c.dup_para_char_frac:
            return "gopher_dup_para_char_frac"

        lines = _LINE_SPLIT(text)
        dups, dup_chars = duplicates(lines)
        if c.dup_line_frac and dups / len(lines) > c.dup_line_frac:
            return "gopher_dup_line_frac"
        if c.dup_line_char_frac and dup_chars / n_chars > c.dup_line_char_frac:
            return "gopher_dup_line_char_frac"

        words = words_of(text)
        if not words:
            return None
        ngrams = _NGramHashes(words)
        for n, frac in c.top_n_grams:
            if ngrams.top_ngram_chars(n) / n_chars > frac:
                return f"gopher_top_{n}_gram"
        for n, frac in c.dup_n_grams:
            if ngrams.duplicate_ngram_chars(n) / n_chars > frac:
                return f"gopher_dup_{n}_gram"
        return None


def duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in repeated elements) counting every occurrence after the first."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


class _NGramHashes:
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
