"""Per-extension rules: StarCoder's visual-inspection table as NeMo Curator ships it (`utils/code_meta.csv`).

Every extension the table lists keeps or excludes its files and sets the alphanumeric threshold,
the longest line allowed (None: no long-line test; the mean line limit is 100 whenever a maximum
is set) and, for some rows, an extra alphabetic-fraction test. Extensions the table does not list
get the default row. The table is config (`code_basic_filters.extensions`): override any row.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExtensionRule(BaseModel):
    """What the table says about one extension."""

    model_config = ConfigDict(extra="forbid")

    include: bool = True
    min_alnum: float | None = Field(0.25, ge=0, le=1)  # None: no alphanumeric test
    max_line: int | None = Field(1000, ge=1)  # None: no long-line (nor mean-line) test
    mean_line: int = Field(100, ge=1)  # NeMo Curator fixes it at 100 when max_line is set
    min_alpha: float | None = Field(None, ge=0, le=1)


DEFAULT_RULE = ExtensionRule()

# The rows that differ from the default (220 of the 305 rows are the default).
_EXCLUDED = [
    "bison",
    "cats",
    "w",
    "csx",
    "cl2",
    "sexp",
    "f77",
    "frg",
    "geo",
    "vrx",
    "grt",
    "xrl",
    "cdf",
    "nbp",
    "wlt",
    "dpr",
    "al",
    "ph",
    "plx",
    "rktd",
    "rktl",
    "rest",
    "pck",
    "pls",
    "tab",
    "sig",
    "ltx",
    "aux",
    "toc",
    "vhf",
    "vht",
    "frx",
    "yy",
]
_NO_LONG_LINE = [
    "bsv",
    "cmake",
    "asm",
    "markdown",
    "md",
    "mkd",
    "mkdn",
    "ron",
    "nb",
    "matlab",
    "r",
    "rst",
    "rmd",
    "sql",
    "ado",
    "do",
    "bbx",
    "bib",
    "cbx",
    "dtx",
    "ins",
    "lbx",
    "mkii",
    "mkiv",
    "mkvi",
    "sty",
    "tex",
]
_ALPHA_025 = [
    "ads",
    "aug",
    "fp",
    "mpl",
    "ma",
    "wl",
    "scm",
    "sld",
    "sps",
    "prc",
    "sv",
    "vhd",
    "bas",
    "y",
    "matlab",
    "nb",
]


def default_table() -> dict[str, ExtensionRule]:
    """The table keyed by extension without the dot ('' is a file without one)."""
    table: dict[str, ExtensionRule] = {}
    for ext in _EXCLUDED:
        table[ext] = ExtensionRule(include=False)
    for ext in _NO_LONG_LINE:
        table[ext] = ExtensionRule(max_line=None)
    for ext in _ALPHA_025:
        table[ext] = table.get(ext, DEFAULT_RULE).model_copy(update={"min_alpha": 0.25})
    table["fsh"] = ExtensionRule(max_line=500)
    table["sas"] = ExtensionRule(min_alnum=None)
    table["ma"] = ExtensionRule(max_line=None, min_alpha=0.25)
    table["frm"] = ExtensionRule(max_line=None)
    # JSON and YAML rows were added by hand: alphabetic fraction at least 0.5; no line limit for JSON.
    table["json"] = ExtensionRule(max_line=None, min_alpha=0.5)
    table["yaml"] = ExtensionRule(min_alpha=0.5)
    table["yml"] = ExtensionRule(min_alpha=0.5)
    return table
