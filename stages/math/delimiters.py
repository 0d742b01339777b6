"""TeX between delimiters in running text: which delimiters a page's MathJax/KaTeX configures, and a
linear-time scanner that finds the formulas.

MathJax and KaTeX typeset TeX they find in the page text between configured delimiters. A page
that loads neither shows its `$` signs as dollars, so text is scanned only on pages that load a
renderer, and single `$` only where the page turns it on (MathJax 2 and 3 and KaTeX's
auto-render leave it off by default). Defaults: `$$..$$`, `\\[..\\]` display, `\\(..\\)` inline, and
`\\begin{env}..\\end{env}` for the math environments (MathJax's processEnvironments).

Every search is linear in the text: openers come from one regex alternation of literal strings,
and each closer string remembers its last search, so a page of a million unmatched `$` costs one
pass, not one pass per `$`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Delimiter:
    """A pair of strings around TeX, and whether it typesets as a display formula."""

    left: str
    right: str
    display: bool


MATHJAX_DEFAULT = (Delimiter("$$", "$$", True), Delimiter("\\[", "\\]", True), Delimiter("\\(", "\\)", False))
_STANDARD = {("$", "$"), ("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)")}

# Environments MathJax typesets outside delimiters (its TeX input's AMS environments).
MATH_ENVIRONMENTS = (
    "equation",
    "align",
    "gather",
    "multline",
    "eqnarray",
    "flalign",
    "alignat",
    "alignedat",
    "displaymath",
    "math",
    "split",
    "aligned",
    "gathered",
)

_RENDERER = re.compile(rb"mathjax|katex|tex-mml|tex-chtml|tex-svg", re.I)
# Configuration snippets: bounded quantifiers keep these linear on any page.
_MJ_LIST = re.compile(r"(inlineMath|displayMath)[\"']?\s*[:=]\s*\[(.{0,600}?\])\s*\]", re.S)
_PAIR = re.compile(r"\[\s*([\"'])(.{1,20}?)\1\s*,\s*([\"'])(.{1,20}?)\3\s*\]")
_KATEX_LIST = re.compile(r"delimiters[\"']?\s*:\s*\[(.{0,1200}?)\]\s*[,}]", re.S)
_KATEX_ITEM = re.compile(
    r"\{\s*left\s*:\s*([\"'])(.{1,20}?)\1\s*,\s*right\s*:\s*([\"'])(.{1,20}?)\3\s*,"
    r"\s*display\s*:\s*(true|false)",
    re.S,
)
_JS_ESCAPE = re.compile(r"\\(.)")


def _unescape_js(s: str) -> str:
    return _JS_ESCAPE.sub(lambda m: m.group(1), s)


@dataclass
class PageDelimiters:
    """The delimiters a page's renderer uses; empty when the page loads no renderer."""

    delimiters: tuple[Delimiter, ...] = ()
    environments: bool = False
    custom: bool = False  # the page configures delimiters beyond $, $$, \( \), \[ \]

    @property
    def active(self) -> bool:
        return bool(self.delimiters) or self.environments


def page_delimiters(html: str) -> PageDelimiters:
    """The TeX delimiters `html`'s MathJax or KaTeX configuration turns on."""
    head = html.encode("utf-8", "surrogatepass") if isinstance(html, str) else html
    if not _RENDERER.search(head):
        return PageDelimiters()
    found: dict[tuple[str, str], bool] = {}
    configured = {"inlineMath": False, "displayMath": False}
    for m in _MJ_LIST.finditer(html):
        configured[m.group(1)] = True
        for p in _PAIR.finditer(m.group(2) + "]"):
            found[(_unescape_js(p.group(2)), _unescape_js(p.group(4)))] = m.group(1) == "displayMath"
    for m in _KATEX_LIST.finditer(html):
        items = list(_KATEX_ITEM.finditer(m.group(1)))
        if items:
            configured["inlineMath"] = configured["displayMath"] = True
        for it in items:
            found[(_unescape_js(it.group(2)), _unescape_js(it.group(4)))] = it.group(5) == "true"
    defaults = {(d.left, d.right): d.display for d in MATHJAX_DEFAULT}
    if not configured["inlineMath"]:
        found.update({k: v for k, v in defaults.items() if not v})
    if not configured["displayMath"]:
        found.update({k: v for k, v in defaults.items() if v})
    delims = tuple(Delimiter(left, right, display) for (left, right), display in found.items() if left and right)
    return PageDelimiters(delims, True, any((d.left, d.right) not in _STANDARD for d in delims))


@dataclass
class Formula:
    """One formula found in text: its character span, its TeX and display flag."""

    start: int
    end: int
    tex: str
    display: bool


@dataclass
class ScanEvents:
    """What a scan met besides formulas (each lands in the stage's ledger)."""

    unbalanced: int = 0  # an opener with no closer: left as literal text
    too_long: int = 0  # a formula longer than the limit: removed from the text
    counts: dict[str, int] = field(default_factory=dict)


class _Closer:
    """First unescaped occurrence of `s` at or after a position, for positions that only grow.

    The last answer is remembered: a later query before it returns it again, and a query past
    it searches only text never searched, so all queries together cost one pass over the text.
    """

    def __init__(self, text: str, s: str):
        self.text, self.s = text, s
        self.escapable = s[0] == "$"
        self.found = -2  # -2: never searched; -1: none after `self.since`
        self.since = 0

    def at_or_after(self, pos: int) -> int:
        if self.found == -1 and pos >= self.since:
            return -1
        if self.found >= pos:
            return self.found
        c = self.text.find(self.s, pos)
        while c > 0 and self.escapable and self.text[c - 1] == "\\":
            c = self.text.find(self.s, c + 1)
        self.found, self.since = c, pos
        return c


class DelimiterScanner:
    """Finds delimited TeX in text, in one left-to-right pass."""

    def __init__(self, page: PageDelimiters, max_formula_chars: int):
        self.page = page
        self.max_chars = max_formula_chars
        lefts = sorted({d.left for d in page.delimiters}, key=len, reverse=True)
        self.by_left = {d.left: d for d in page.delimiters}
        parts = [re.escape(x) for x in lefts] + [r"\\\$"]  # an escaped dollar is never a delimiter
        if page.environments:
            parts.append(r"\\begin\{((?:" + "|".join(MATH_ENVIRONMENTS) + r")\*?)\}")
        self.openers = re.compile("|".join(parts))

    def scan(self, text: str, events: ScanEvents) -> Iterator[Formula]:
        """Formulas of `text` in order; unbalanced openers stay text, over-long formulas are cut."""
        closers: dict[str, _Closer] = {}
        pos = 0
        while True:
            m = self.openers.search(text, pos)
            if m is None:
                return
            token = m.group(0)
            if token == "\\$":
                pos = m.end()
                continue
            env = m.group(1) if m.lastindex else None
            right = f"\\end{{{env}}}" if env else self.by_left[token].right
            closer = closers.get(right) or closers.setdefault(right, _Closer(text, right))
            c = closer.at_or_after(m.end())
            inline_dollar = token == "$"
            if c < 0 or (inline_dollar and text.find("\n\n", m.end(), c) >= 0):
                # No closer, or a lone "$" whose partner is in another paragraph: a literal dollar.
                events.unbalanced += 1
                pos = m.end()
                continue
            end = c + len(right)
            if c - m.end() > self.max_chars:
                events.too_long += 1
                yield Formula(m.start(), end, "", False)
                pos = end
                continue
            tex = text[m.start() : end] if env else text[m.end() : c].strip()
            if not tex:
                pos = end if not inline_dollar else m.end()
                continue
            yield Formula(m.start(), end, tex, True if env else self.by_left[token].display)
            pos = end
