"""Gopher quality and repetition heuristics (Rae et al. 2021, "Scaling Language Models", App. A).

Same rules, order and defaults as datatrove's GopherQualityFilter and GopherRepetitionFilter
(the FineWeb recipe), with spaCy word splitting replaced by `text_words.split_words` and the
n-gram statistics computed on hashed n-grams with numpy instead of joined strings.
"""

from __future__ import annotations

import re

from corpusforge.core.document import Document
from corpusforge.core.repetition import NGramHashes as _NGramHashes
from corpusforge.core.repetition import duplicates
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.text.words import PUNCTUATION_CHARS, PUNCTUATION_SET, words_of

# Gopher's stop words (Rae et al. 2021, A.1.1): a document needs at least two of them.
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
_HAS_ALPHA = re.compile(r"[^\W\d_]").search
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}").split
_LINE_SPLIT = re.compile(r"\n+").split
# Odd 64-bit multiplier of the polynomial n-gram hash.


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
