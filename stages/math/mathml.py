"""MathML to LaTeX, for `<math>` elements that carry neither a TeX annotation nor `alttext`.

Covers presentation MathML as pages and renderers write it: tokens (mi mn mo mtext ms mspace),
layout (mrow mfrac msqrt mroot mstyle mpadded mphantom mfenced menclose), scripts (msub msup
msubsup munder mover munderover mmultiscripts) and tables (mtable mtr mtd). latex2mathml goes
the other way only; OpenWebMath used XSLT stylesheets (mmltex), which need an XSLT engine per page.

It walks resiliparse DOM nodes (what the extractor already parsed), so a page is parsed once.
Malformed input never raises out of `convert`: an unknown element contributes its children, a
missing child an empty group, and nesting past `max_depth` raises `MathMLTooDeep` for the
caller to count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resiliparse.parse.html import NodeType

from corpusforge.stages.math.symbols import (
    ACCENTS_OVER,
    ACCENTS_UNDER,
    FUNCTIONS,
    LIMIT_OPERATORS,
    MATHVARIANTS,
    join_tex,
    latex_symbol,
)

TEX_ENCODINGS = frozenset({"application/x-tex", "tex", "text/x-tex", "application/x-latex", "text/x-latex", "latex"})


class MathMLTooDeep(Exception):
    """MathML nested deeper than the converter's limit."""


@dataclass
class Conversion:
    """What one conversion met: elements it does not know (their children were kept), missing children."""

    unknown: set[str] = field(default_factory=set)
    missing_children: int = 0  # an mfrac without denominator, an msup without script: written as {}


def tex_annotation(math) -> str | None:
    """The TeX source a `<math>` element carries in `<annotation encoding="application/x-tex">`."""
    for ann in math.get_elements_by_tag_name("annotation"):
        if (ann.getattr("encoding") or "").strip().lower() in TEX_ENCODINGS:
            text = ann.text.strip()
            if text:
                return text
    return None


def convert(math, max_depth: int = 200) -> tuple[str, Conversion]:
    """LaTeX for a `<math>` element node (its presentation markup), and what the conversion met."""
    report = Conversion()
    return _Converter(report, max_depth).group(math, 0).strip(), report


def _elements(node) -> list:
    return [c for c in node.child_nodes if c.type == NodeType.ELEMENT]


class _Converter:
    def __init__(self, report: Conversion, max_depth: int):
        self.report, self.max_depth = report, max_depth

    def group(self, node, depth: int) -> str:
        """The node's children converted and joined (an mrow)."""
        return join_tex([self.node(c, depth + 1) for c in _elements(node)])

    def arg(self, node, depth: int) -> str:
        """`node` as a braced TeX argument (always braced: `^n` then `a` would read as `^{na}`)."""
        return "{" + self.node_or_empty(node, depth) + "}"

    def node(self, node, depth: int) -> str:
        if depth > self.max_depth:
            raise MathMLTooDeep(depth)
        tag = node.tag.lower()
        handler = _HANDLERS.get(tag)
        if handler is not None:
            return handler(self, node, depth)
        if tag in _SKIP:
            return ""
        if tag not in _TRANSPARENT:
            self.report.unknown.add(tag)
        return self.group(node, depth)

    # -- tokens --------------------------------------------------------------------------------

    def mi(self, node, depth: int) -> str:
        text = node.text.strip()
        variant = (node.getattr("mathvariant") or "").strip()
        if len(text) > 1 and text in FUNCTIONS:
            return "\\" + text
        tex = latex_symbol(text)
        if len(text) > 1 and text.isalpha():
            tex = "\\mathrm{" + tex + "}" if not variant or variant == "normal" else tex
        command = MATHVARIANTS.get(variant, "")
        if variant == "normal" and len(text) == 1 and text.isalpha():
            command = "\\mathrm"
        return f"{command}{{{tex}}}" if command and tex else tex

    def mn(self, node, depth: int) -> str:
        return latex_symbol(node.text.strip())

    def mo(self, node, depth: int) -> str:
        text = node.text.strip()
        if len(text) > 1 and text in FUNCTIONS:
            return "\\" + text
        return latex_symbol(text)

    def mtext(self, node, depth: int) -> str:
        text = node.text
        if not text.strip():
            return "\\ " if text else ""
        escaped = "".join("\\" + c if c in "#%&_{}$" else c for c in text)
        return "\\text{" + escaped + "}"

    def mspace(self, node, depth: int) -> str:
        width = (node.getattr("width") or "").strip()
        return (
            "\\quad "
            if width.endswith("em") and width[:-2].replace(".", "", 1).isdigit() and float(width[:-2]) >= 1
            else "\\,"
        )

    # -- layout --------------------------------------------------------------------------------

    def mfrac(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        num, den = self.node_or_empty(kids[0], depth), self.node_or_empty(kids[1], depth)
        if (node.getattr("linethickness") or "").strip() in ("0", "0px", "0em"):
            return "{" + num + " \\atop " + den + "}"
        return "\\frac{" + num + "}{" + den + "}"

    def msqrt(self, node, depth: int) -> str:
        return "\\sqrt{" + self.group(node, depth) + "}"

    def mroot(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        return "\\sqrt[" + self.node_or_empty(kids[1], depth) + "]{" + self.node_or_empty(kids[0], depth) + "}"

    def mfenced(self, node, depth: int) -> str:
        open_ = node.getattr("open") if node.hasattr("open") else "("
        close = node.getattr("close") if node.hasattr("close") else ")"
        seps = (node.getattr("separators") if node.hasattr("separators") else ",").replace(" ", "")
        parts = [self.node(c, depth + 1) for c in _elements(node)]
        out = []
        for i, p in enumerate(parts):
            if i:
                out.append(seps[min(i - 1, len(seps) - 1)] if seps else "")
            out.append(p)
        return latex_symbol(open_ or "") + join_tex(out) + latex_symbol(close or "")

    def menclose(self, node, depth: int) -> str:
        notation = (node.getattr("notation") or "").split()
        body = self.group(node, depth)
        if "box" in notation or "roundedbox" in notation:
            return "\\boxed{" + body + "}"
        if {"updiagonalstrike", "downdiagonalstrike", "horizontalstrike"} & set(notation):
            return "\\cancel{" + body + "}"
        return body

    def semantics(self, node, depth: int) -> str:
        kids = [k for k in _elements(node) if k.tag.lower() not in ("annotation", "annotation-xml")]
        return self.node(kids[0], depth + 1) if kids else ""

    def node_or_empty(self, node, depth: int) -> str:
        if node is None:
            self.report.missing_children += 1
            return ""
        return self.node(node, depth + 1).strip()

    # -- scripts -------------------------------------------------------------------------------

    def msub(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        return self.base(kids[0], depth) + "_" + self.arg(kids[1], depth)

    def msup(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        return self.base(kids[0], depth) + "^" + self.arg(kids[1], depth)

    def msubsup(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None, None]
        return self.base(kids[0], depth) + "_" + self.arg(kids[1], depth) + "^" + self.arg(kids[2], depth)

    def base(self, node, depth: int) -> str:
        tex = self.node_or_empty(node, depth)
        # A compound base (x+y)^2 keeps its own grouping; a bare script on nothing gets {}.
        return tex if tex else "{}"

    def mover(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        base, over = self.node_or_empty(kids[0], depth), kids[1]
        over_text = over.text.strip() if over is not None else ""
        if over is not None and over_text in ACCENTS_OVER and not _elements(over):
            return ACCENTS_OVER[over_text] + "{" + base + "}"
        if base in LIMIT_OPERATORS:
            return base + "^" + self.arg(over, depth)
        return "\\overset{" + self.node_or_empty(over, depth) + "}{" + base + "}"

    def munder(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None]
        base, under = self.node_or_empty(kids[0], depth), kids[1]
        under_text = under.text.strip() if under is not None else ""
        if under is not None and under_text in ACCENTS_UNDER and not _elements(under):
            return ACCENTS_UNDER[under_text] + "{" + base + "}"
        if base in LIMIT_OPERATORS:
            return base + "_" + self.arg(under, depth)
        return "\\underset{" + self.node_or_empty(under, depth) + "}{" + base + "}"

    def munderover(self, node, depth: int) -> str:
        kids = _elements(node) + [None, None, None]
        base = self.node_or_empty(kids[0], depth)
        under, over = self.arg(kids[1], depth), self.arg(kids[2], depth)
        if base in LIMIT_OPERATORS:
            return base + "_" + under + "^" + over
        return "\\overset{" + over.strip("{}") + "}{\\underset{" + under.strip("{}") + "}{" + base + "}}"

    def mmultiscripts(self, node, depth: int) -> str:
        kids = _elements(node)
        if not kids:
            return ""
        base = self.node_or_empty(kids[0], depth)
        post: list[str] = []
        pre: list[str] = []
        target = post
        for k in kids[1:]:
            if k.tag.lower() == "mprescripts":
                target = pre
                continue
            target.append("" if k.tag.lower() == "none" else self.node_or_empty(k, depth))
        scripts = lambda xs: "".join(
            (f"_{{{xs[i]}}}" if xs[i] else "") + (f"^{{{xs[i + 1]}}}" if i + 1 < len(xs) and xs[i + 1] else "")
            for i in range(0, len(xs), 2)
        )
        prefix = "{}" + scripts(pre) if pre else ""
        return prefix + "{" + base + "}" + scripts(post)

    # -- tables --------------------------------------------------------------------------------

    def mtable(self, node, depth: int) -> str:
        rows = []
        for row in _elements(node):
            if row.tag.lower() not in ("mtr", "mlabeledtr"):
                rows.append(self.node(row, depth + 1))
                continue
            cells = _elements(row)
            if row.tag.lower() == "mlabeledtr":
                cells = cells[1:]  # the first cell is the equation label
            rows.append(
                " & ".join(
                    self.group(c, depth + 1) if c.tag.lower() == "mtd" else self.node(c, depth + 2) for c in cells
                )
            )
        return "\\begin{matrix}" + " \\\\ ".join(rows) + "\\end{matrix}"


_HANDLERS = {
    "mi": _Converter.mi,
    "mn": _Converter.mn,
    "mo": _Converter.mo,
    "mtext": _Converter.mtext,
    "ms": _Converter.mtext,
    "mspace": _Converter.mspace,
    "mfrac": _Converter.mfrac,
    "msqrt": _Converter.msqrt,
    "mroot": _Converter.mroot,
    "mfenced": _Converter.mfenced,
    "menclose": _Converter.menclose,
    "semantics": _Converter.semantics,
    "msub": _Converter.msub,
    "msup": _Converter.msup,
    "msubsup": _Converter.msubsup,
    "mover": _Converter.mover,
    "munder": _Converter.munder,
    "munderover": _Converter.munderover,
    "mmultiscripts": _Converter.mmultiscripts,
    "mtable": _Converter.mtable,
}
# Containers whose content is simply their children.
_TRANSPARENT = frozenset(
    ["math", "mrow", "mstyle", "mpadded", "merror", "maction", "mtd", "mtr", "mlabeledtr", "mglyph"]
)
# Invisible or non-presentation content.
_SKIP = frozenset(["mphantom", "annotation", "annotation-xml", "none", "mprescripts", "malignmark", "maligngroup"])
