"""Scoring math extraction against gold formulas: which of a page's formulas its text holds."""

from __future__ import annotations

import re

from corpusforge.stages.math.delimiters import Delimiter, DelimiterScanner, PageDelimiters, ScanEvents
from corpusforge.stages.math.extract import unwrap_style

_SPACE = re.compile(r"\s+")
_BR = re.compile(r"<br\s*/?>", re.I)
_FORMULA = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def squash_formula(tex: str) -> str:
    """A formula compared without whitespace, forum `<br />` debris or the `{\\displaystyle ..}` wrapper."""
    return _SPACE.sub("", unwrap_style(_BR.sub(" ", tex).strip()))


def formulas_found(text: str, formulas: list[str]) -> int:
    """How many of `formulas` occur in `text` after whitespace normalisation (LaTeX ignores it)."""
    flat = _SPACE.sub("", text)
    return sum(1 for f in formulas if squash_formula(f) in flat)


def prose_only(text: str) -> str:
    """`text` with its `$...$` / `$$...$$` formulas removed: the prose a reader sees around them."""
    return _FORMULA.sub(" ", text)


_DOLLARS = PageDelimiters((Delimiter("$$", "$$", True), Delimiter("$", "$", False)))


def formulas_delimited(text: str, formulas: list[str]) -> int:
    """How many of `formulas` the text holds as a whole `$...$` / `$$...$$` formula (usable LaTeX, not
    TeX source lying among rendered glyphs)."""
    spans = {squash_formula(f.tex) for f in DelimiterScanner(_DOLLARS, len(text) + 1).scan(text, ScanEvents())}
    return sum(1 for f in formulas if squash_formula(f) in spans)
