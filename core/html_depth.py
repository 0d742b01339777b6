"""How deep a page's elements nest, from a scan of its tags: no parse, so a hostile page costs one regex pass.

HTML nested thousands deep makes parsers and main-content extractors slow (resiliparse's extraction grows
with the square of the depth; libxml2 gives up past 256). The web extractor and the code-page prefilter
both turn such pages away before parsing them.
"""

from __future__ import annotations

import re
from itertools import accumulate

# Elements that never hold nested content, or whose end tag the HTML parser implies: they do
# not deepen the tree however many of them a sloppy page leaves open. SVG leaves are usually
# written self-closing ("<path/>"), which the scan does not look for.
_FLAT = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rp",
        "html",
        "head",
        "body",
        "path",
        "circle",
        "rect",
        "line",
        "polygon",
        "polyline",
        "ellipse",
        "use",
        "stop",
    ]
)
_TAG = re.compile(r"<(/?[a-zA-Z][a-zA-Z0-9]*)")
_RAW_OPEN = re.compile(r"<(?:(script|style|textarea)\b|!--)", re.I)
_RAW_CLOSE = {n: re.compile(f"</{n}", re.I) for n in ("script", "style", "textarea")}


def _markup_only(html: str) -> str:
    """`html` without script/style/comment bodies, whose "<" are not tags."""
    parts, pos = [], 0
    while m := _RAW_OPEN.search(html, pos):
        parts.append(html[pos : m.start()])
        name = (m.group(1) or "").lower()
        if name:
            end = _RAW_CLOSE[name].search(html, m.end())
            pos = end.end() if end else len(html)
        else:
            close = html.find("-->", m.end())
            pos = close + 3 if close >= 0 else len(html)
    parts.append(html[pos:])
    return "".join(parts)


def _deeper(depth: int, step: int) -> int:
    return depth + step if depth + step > 0 else 0  # stray end tags do not go below the root


def html_depth_exceeds(html: str, limit: int) -> bool:
    """True when the element nesting of `html` goes deeper than `limit` (tag scan, no parse)."""
    if html.count("<") <= limit:
        return False  # cannot nest deeper than its number of tags
    steps = [
        -1 if tag[0] == "/" else 1 for tag in _TAG.findall(_markup_only(html)) if tag.lstrip("/").lower() not in _FLAT
    ]
    return len(steps) > limit and max(accumulate(steps, _deeper), default=0) > limit
