"""The math prefilter on raw HTML (OpenWebMath's), so only candidate pages pay for math extraction.

OpenWebMath (Paster et al. 2023; RECIPES.md §2.2) keeps a page when its HTML holds a renderer
marker (MathJax, KaTeX, `<math`, `math-container`, latex.php or codecogs images, `tex.cgi`,
`class="tex"`); otherwise, when the HTML shows something like a LaTeX command (`\\[a-z]{2,}`), it
extracts the plain text and keeps the page if the text uses one of the common LaTeX commands, or
if the math score is over 0.8 on more than 500 characters.

The stage routes: with `keep: math` (the math lane) candidate pages go on, re-labelled
`source: math`, and the others are dropped as `no_math_markers`; with `keep: non_math` a web
config can take the other branch; `keep: all` only counts and flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Literal

from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig

# OpenWebMath extract_from_warc.py, plus markers of renderers it predates or missed (MathJax 3's
# tex-*.js loaders carry "mathjax" in their path; mimetex/mathtex images; Wikipedia's mwe-math).
OWM_MARKERS = [
    "MathJax",
    "mathjax",
    "<math",
    "math-container",
    "katex.min.css",
    "latex.php",
    "codecogs",
    "tex.cgi",
    'class="tex"',
    "class='tex'",
]
EXTRA_MARKERS = ["katex", "math/tex", "mimetex", "mathtex.cgi", "mwe-math-element"]
# Common LaTeX commands (OpenWebMath keeps a page whose text uses one of about 90 of them).
LATEX_COMMANDS = [
    "frac",
    "dfrac",
    "tfrac",
    "binom",
    "sqrt",
    "sum",
    "prod",
    "int",
    "iint",
    "oint",
    "lim",
    "infty",
    "partial",
    "nabla",
    "cdot",
    "cdots",
    "ldots",
    "times",
    "div",
    "pm",
    "mp",
    "leq",
    "geq",
    "neq",
    "approx",
    "equiv",
    "sim",
    "simeq",
    "cong",
    "propto",
    "subset",
    "subseteq",
    "supset",
    "supseteq",
    "in",
    "notin",
    "cup",
    "cap",
    "setminus",
    "forall",
    "exists",
    "rightarrow",
    "leftarrow",
    "Rightarrow",
    "Leftarrow",
    "Leftrightarrow",
    "iff",
    "implies",
    "mapsto",
    "to",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
    "mathbb",
    "mathbf",
    "mathrm",
    "mathcal",
    "mathfrak",
    "operatorname",
    "left",
    "right",
    "overline",
    "underline",
    "hat",
    "vec",
    "tilde",
    "bar",
    "displaystyle",
    "textstyle",
    "begin",
    "end",
    "boxed",
    "log",
    "ln",
    "sin",
    "cos",
    "tan",
    "exp",
    "det",
    "pmod",
]
_COMMAND_HINT = re.compile(r"\\[a-z]{2,}")


def _command_pattern(commands: list[str]) -> re.Pattern:
    return re.compile(r"\\(?:" + "|".join(sorted(map(re.escape, commands), key=len, reverse=True)) + r")(?![A-Za-z])")


class MathPrefilter(Stage):
    """Routes pages by OpenWebMath's math markers: candidates one way, the rest the other."""

    type = "math_prefilter"
    config: Config

    class Config(StageConfig):
        # math: keep candidates (the math lane); non_math: keep the rest (a web branch); all: keep both
        keep: Literal["math", "non_math", "all"] = "math"
        markers: list[str] = OWM_MARKERS + EXTRA_MARKERS  # substrings of the raw HTML (OpenWebMath's list + ours)
        latex_commands: list[str] = LATEX_COMMANDS  # a text using one of these is math (OpenWebMath)
        min_math_score: float = Field(0.8, ge=0, le=1)  # OpenWebMath: MathScore > 0.8 ...
        min_text_chars: int = Field(500, ge=0)  # ... on more than 500 characters of text
        source: str = "math"  # the `source` candidate pages carry on, with keep: math

    @cached_property
    def _commands(self) -> re.Pattern:
        return _command_pattern(self.config.latex_commands)

    def setup(self) -> None:
        from corpusforge.classifiers.domain import math_score

        self._math_score = math_score

    def evidence(self, html: str) -> str | None:
        """Why `html` is a math candidate (the marker, "latex_command" or "math_score"), or None."""
        for marker in self.config.markers:
            if marker in html:
                return marker
        if not _COMMAND_HINT.search(html):
            return None
        from resiliparse.extract.html2text import extract_plain_text

        text = extract_plain_text(html, main_content=False, alt_texts=True, links=False, form_fields=False)
        if self._commands.search(text):
            return "latex_command"
        if len(text) > self.config.min_text_chars and self._math_score(text) > self.config.min_math_score:
            return "math_score"
        return None

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        cfg, ledger = self.config, self.ledger
        for doc in docs:
            why = self.evidence(doc.text)
            if why is not None:
                ledger.count("math_candidates")
                ledger.histogram("evidence", why)
            if cfg.keep == "math":
                if why is None:
                    self.drop(doc, "no_math_markers")
                    continue
                doc.source = cfg.source
            elif cfg.keep == "non_math":
                if why is not None:
                    self.drop(doc, "math_page")
                    continue
            elif why is not None:
                flags = list(doc.annotations.get("flags") or [])
                doc.annotations["flags"] = flags + ["math_candidate"]
            yield doc
