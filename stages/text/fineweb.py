"""FineWeb's own quality heuristics (Penedo et al. 2024, "The FineWeb Datasets", section 3.3.4).

Same rules, order and defaults as datatrove's FineWebQualityFilter: share of lines ending in
terminal punctuation, share of short lines, characters in duplicated lines, newlines per word.
"""

from __future__ import annotations

from corpusforge.core.document import Document
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.text.gopher import duplicates
from corpusforge.stages.text.words import TERMINAL_PUNCTUATION_CHARS, words_of


class FineWebQuality(Filter):
    """Drops documents failing FineWeb's line-punctuation, short-line, duplicate-line and list rules."""

    type = "fineweb"
    config: Config

    class Config(StageConfig):
        # Defaults: FineWeb (Penedo et al. 2024) 3.3.4, as in datatrove's FineWebQualityFilter.
        line_punct_thr: float = 0.12
        line_punct_exclude_zero: bool = False
        stop_chars: list[str] | None = None  # None: datatrove's TERMINAL_PUNCTUATION set
        short_line_thr: float = 0.67
        short_line_length: int = 30
        char_duplicates_ratio: float = 0.01
        new_line_ratio: float = 0.3

    def setup(self) -> None:
        chars = self.config.stop_chars
        self._stop_chars = tuple(chars) if chars is not None else TERMINAL_PUNCTUATION_CHARS

    def reject(self, doc: Document) -> str | None:
        c = self.config
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "fineweb_empty"
        n_lines = len(lines)
        stop_chars = self._stop_chars
        ratio = sum(1 for line in lines if line.endswith(stop_chars)) / n_lines
        if ratio < c.line_punct_thr and not (ratio == 0 and c.line_punct_exclude_zero):
            return "fineweb_line_punct_ratio"
        short = c.short_line_length
        if sum(1 for line in lines if len(line) <= short) / n_lines > c.short_line_thr:
            return "fineweb_short_line_ratio"
        if duplicates(lines)[1] / (len(text) - text.count("\n")) > c.char_duplicates_ratio:
            return "fineweb_char_dup_ratio"
        n_words = len(words_of(text))
        if n_words and text.count("\n") / n_words > c.new_line_ratio:
            return "fineweb_list_ratio"
        return None
