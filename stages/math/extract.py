"""Math-preserving HTML to text: every formula the page shows comes out as LaTeX in `$...$` / `$$...$$`.

Article extractors drop or garble mathematics (OpenWebMath, Paster et al. 2023, §3.2). This one
parses the page once (resiliparse's lexbor DOM) and, before any main-content decision, replaces
each formula element by a text node holding its LaTeX:
  - MathJax `<script type="math/tex">` (display with `mode=display`); rendered MathJax output
    (`.MathJax`, `.MathJax_Preview`, `mjx-container` without MathML) is dropped, it is glyphs;
  - KaTeX: the `<annotation encoding="application/x-tex">` of each `.katex` (display in `.katex-display`);
  - MathML `<math>`: TeX annotation, else `alttext`, else our MathML-to-LaTeX conversion; Wikipedia's
    `.mwe-math-element` once (not again for its fallback image), `{\\displaystyle ..}` unwrapped;
  - `<img>` from LaTeX renderers (codecogs, WordPress latex.php, mimetex, Google charts, class
    `latex`/`tex`): its `alt`, or the TeX in the renderer URL when the alt is empty.
The text then comes from resiliparse's main-content extraction (or lynx: `render="lynx"`), and TeX
between the page's MathJax/KaTeX delimiters in the running text is rewritten to `$`/`$$`
(stages/math/delimiters.py). Code blocks (`pre`, `code`) are fenced with sentinels before
extraction, so their `$` and `\\(` are never read as math and they come out verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from resiliparse.parse.html import HTMLTree

from corpusforge.stages.math.delimiters import DelimiterScanner, ScanEvents, page_delimiters
from corpusforge.stages.math.mathml import MathMLTooDeep, convert, tex_annotation

# Private-use code points fence formulas and code in the extracted text; they are stripped from
# input pages first so no page can forge one. (Plane-15 ones: resiliparse's main-content mode
# drops a text node holding only a BMP noncharacter or private-use character.)
FORMULA_OPEN, FORMULA_CLOSE, CODE_OPEN, CODE_CLOSE = "\U000f0000", "\U000f0001", "\U000f0002", "\U000f0003"
_SENTINELS = re.compile("[\U000f0000-\U000f0003]")
_FENCED_FORMULA = re.compile("\U000f0000[^\U000f0001]*\U000f0001")

_MATH_SCRIPT = re.compile(r"^\s*math/tex\b", re.I)
_MACRO_SCRIPT = re.compile(r"^\s*text/x-mathjax-macros\b", re.I)
_RENDERED_MATHJAX = (
    ".MathJax_Preview, .MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_SVG_Display, "
    ".MathJax_CHTML, .MathJax_MathML, .MJX_Assistive_MathML, .MathJax_PHTML, .MathJax_PlainSource"
)
# LaTeX renderer images: by address (OpenWebMath's codecogs and latex.php, plus the other public
# renderers forum and blog software embeds) or by class (WordPress `latex`, texvc `tex`).
_RENDERER_SRC = re.compile(
    r"codecogs\.com|latex\.php|/latex(?:\.(?:cgi|png|gif|svg))?\?|mime?tex\.(?:cgi|exe)|mathtex\.cgi|/tex\.cgi|"
    r"latexrender|chart\.apis\.google\.com/chart\?|chart\.googleapis\.com/chart\?|quicklatex\.com/cache|"
    r"/math/render/|forkosh\.com|texify\.com|sciweavers\.org/tex2img",
    re.I,
)
_RENDERER_CLASS = frozenset(
    {
        "latex",
        "tex",
        "wp-latex",
        "mwe-math-fallback-image-inline",
        "mwe-math-fallback-image-display",
        "ql-img-inline-formula",
        "ql-img-displayed-equation",
    }
)
_URL_TEX_PARAMS = ("latex", "chl", "tex", "eq", "formula")
_CODECOGS_PREFIX = re.compile(
    r"^(?:\\(?:dpi|bg_\w+|fg_\w+|inline|large|small|huge|LARGE|Large|normal|tiny)"
    r"(?:\{[^}]*\})?\s*)+"
)
_BR = re.compile(r"<br\s*/?>", re.I)
_DISPLAYSTYLE = re.compile(r"^\{\\(?:displaystyle|textstyle)\s*(.*)\}$", re.S)
_WORD = re.compile(r"\w+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_BLOCKS = re.compile(r"\n\s*\n")

Render = Literal["resiliparse", "lynx"]


class MathExtractSettings(BaseModel):
    """Settings of `extract` with `extractor: math`."""

    model_config = ConfigDict(extra="forbid")

    # resiliparse: main-content text (fast); lynx: the whole page as lynx lays it out, as
    # Nemotron-CC-Math renders before its LLM cleanup (RECIPES.md §2.1), with our formulas in it.
    render: Render = "resiliparse"
    main_content: bool = True  # resiliparse's boilerplate removal (navigation, sidebars, footers)
    # Comments hold math on Q&A sites (Stack Exchange); Nemotron-CC-Math's cleanup prompt keeps useful ones.
    comments: bool = True
    # A formula longer than this is removed, counted as formula_too_long: no real formula is 20k
    # characters, a runaway one (unclosed delimiter, generated dump) would flood the text.
    max_formula_chars: int = Field(20_000, ge=1)
    # Pages with formulas and fewer prose words are counted as all_formula_page (kept).
    min_prose_words: int = Field(20, ge=0)

    @field_validator("render")
    @classmethod
    def _lynx_installed(cls, v: str) -> str:
        if v == "lynx":
            from corpusforge.stages.math.lynx import require_lynx

            require_lynx()
        return v


def unwrap_style(tex: str) -> str:
    """`{\\displaystyle x}` -> `x` (Wikipedia's alttext wrapper), when the braces close at the end."""
    m = _DISPLAYSTYLE.match(tex)
    if not m:
        return tex
    inner, depth = m.group(1), 0
    for ch in inner:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return tex
    return inner.strip() if depth == 0 else tex


def renderer_tex(src: str, alt: str) -> str:
    """The LaTeX of a renderer image: its alt text, else the TeX carried in the image address."""
    alt = _BR.sub(" ", alt or "").strip()
    if alt:
        return alt
    parts = urlsplit(src)
    query = parts.query
    if not query:
        return ""
    params = parse_qs(query, keep_blank_values=False)
    for key in _URL_TEX_PARAMS:
        if key in params:
            return _BR.sub(" ", params[key][0]).strip()
    tex = unquote(query) if "codecogs" in parts.netloc or "%" in query else query
    return _CODECOGS_PREFIX.sub("", _BR.sub(" ", tex)).strip()


def is_renderer_image(node) -> bool:
    """True for an `<img>` drawn by a LaTeX renderer (by its address or class)."""
    if _RENDERER_SRC.search(node.getattr("src") or ""):
        return True
    return bool(_RENDERER_CLASS.intersection((node.getattr("class") or "").split()))


def _sanitised_katex_tex(katex) -> str:
    """TeX of a KaTeX span whose MathML tags a sanitiser stripped (CSDN): the annotation's text is
    the last block of what is left in `.katex-mathml`, after the token texts."""
    span = katex.query_selector(".katex-mathml")
    if span is None:
        return ""
    blocks = [b.strip() for b in _BLOCKS.split(span.text) if b.strip()]
    return blocks[-1] if blocks else ""


def _attached(node, root) -> bool:
    while node is not None:
        if node == root:
            return True
        node = node.parent
    return False


class MathExtractor:
    """HTML -> text with formulas as `$...$` / `$$...$$`; `page_report()` tells what the last page held."""

    @classmethod
    def from_settings(cls, s: MathExtractSettings) -> MathExtractor:
        return cls(s.render, s.max_formula_chars, s.main_content, s.comments, s.min_prose_words)

    def __init__(
        self,
        render: Render = "resiliparse",
        max_formula_chars: int = 20_000,
        main_content: bool = True,
        comments: bool = True,
        min_prose_words: int = 20,
    ):
        self.render = render
        self.max_formula_chars = max_formula_chars
        self.main_content = main_content
        self.comments = comments
        self.min_prose_words = min_prose_words
        self._lynx = None
        if render == "lynx":
            from corpusforge.stages.math.lynx import LynxRenderer

            self._lynx = LynxRenderer()
        self._counts: Counter = Counter()
        self._formulas: Counter = Counter()

    # -- the extractor contract (stages/web/extract.py) ----------------------------------------------

    def __call__(self, html: str) -> str:
        self._counts, self._formulas = Counter(), Counter()
        if _SENTINELS.search(html):
            self._counts["sentinel_characters_removed"] += 1
            html = _SENTINELS.sub("", html)
        tree = HTMLTree.parse(html)
        root = tree.document
        if root is None or tree.body is None:
            return ""
        self._fence_code(tree, root)
        self._replace_elements(tree, root)
        text = self._render(tree, root)
        return self._finish(text, page_delimiters(html))

    def without_math(self, html: str) -> str:
        """`html` with every formula element removed (what remains is the page's non-math markup)."""
        tree = HTMLTree.parse(_SENTINELS.sub("", html))
        if tree.document is None or tree.body is None:
            return html
        self._replace_elements(tree, tree.document)
        return _FENCED_FORMULA.sub(" ", tree.document.html)

    def page_report(self) -> tuple[dict[str, int], dict[str, int]]:
        """(ledger counts, annotations) of the last page: events met, formulas kept per kind."""
        counts = dict(self._counts)
        for kind, n in self._formulas.items():
            counts[f"formulas_{kind}"] = n
        return counts, {"math_formulas": sum(self._formulas.values())}

    # -- the DOM pass ---------------------------------------------------------------------------------

    def _fence_code(self, tree: HTMLTree, root) -> None:
        # `.values()`: indexing a resiliparse collection re-runs the query (quadratic on big pages).
        for node in root.query_selector_all("pre, code").values():
            if node.parent is not None and node.parent.tag in ("pre", "code"):
                continue  # the outer block is fenced already
            node.prepend(self._text(tree, CODE_OPEN))
            node.append_child(self._text(tree, CODE_CLOSE))

    @staticmethod
    def _text(tree: HTMLTree, text: str):
        node = tree.create_text_node(text)
        if node is None:
            raise RuntimeError("resiliparse could not create a text node")
        return node

    def _formula_node(self, tree: HTMLTree, tex: str, display: bool, kind: str):
        tex = tex.strip()
        if not tex:
            self._counts["empty_formula"] += 1
            return tree.create_text_node("")
        if len(tex) > self.max_formula_chars:
            self._counts["formula_too_long"] += 1
            return tree.create_text_node("")
        self._formulas[kind] += 1
        d = "$$" if display else "$"
        return tree.create_text_node(f"{FORMULA_OPEN}{d}{tex}{d}{FORMULA_CLOSE}")

    def _replace(self, tree: HTMLTree, node, tex: str, display: bool, kind: str) -> None:
        parent = node.parent
        if parent is not None:
            parent.replace_child(self._formula_node(tree, tex, display, kind), node)

    def _math_tex(self, math) -> str:
        tex = tex_annotation(math)
        if tex:
            return tex
        alt = (math.getattr("alttext") or "").strip()
        if alt:
            return alt
        try:
            tex, report = convert(math)
        except MathMLTooDeep:
            self._counts["mathml_too_deep"] += 1
            return ""
        except RecursionError:
            self._counts["mathml_too_deep"] += 1
            return ""
        if report.unknown:
            self._counts["mathml_unknown_elements"] += 1
        if report.missing_children:
            self._counts["mathml_malformed"] += 1
        self._counts["mathml_converted"] += 1
        return tex

    def _replace_elements(self, tree: HTMLTree, root) -> None:
        def q(selector: str) -> list:
            return root.query_selector_all(selector).values()

        had_scripts = False
        for script in q("script[type]"):
            kind = script.getattr("type") or ""
            if _MATH_SCRIPT.match(kind):
                had_scripts = True
                self._replace(tree, script, script.text, "mode=display" in kind.replace(" ", "").lower(), "script")
            elif _MACRO_SCRIPT.match(kind):
                script.parent.remove_child(script)
        for node in q("mjx-container"):
            math = node.query_selector("math")
            if math is not None and not had_scripts:
                display = node.getattr("display") == "true" or math.getattr("display") == "block"
                self._replace(tree, node, self._math_tex(math), display, "mathml")
            elif node.parent is not None:
                node.parent.remove_child(node)
        for node in q(_RENDERED_MATHJAX):
            if _attached(node, root) and node.parent is not None:
                node.parent.remove_child(node)
        for node in q(".katex-display, .katex"):
            if not _attached(node, root):
                continue  # inside a .katex-display replaced just before
            display = "katex-display" in (node.getattr("class") or "").split()
            math = node.query_selector("math")
            tex = self._math_tex(math) if math is not None else _sanitised_katex_tex(node)
            if not tex:
                self._counts["katex_without_source"] += 1
            self._replace(tree, node, tex, display, "katex")
        for node in q(".mwe-math-element"):
            math = node.query_selector("math")
            img = node.query_selector("img")
            display = (math is not None and math.getattr("display") == "block") or (
                img is not None and "mwe-math-fallback-image-display" in (img.getattr("class") or "")
            )
            tex = self._math_tex(math) if math is not None else renderer_tex("", img.getattr("alt") if img else "")
            self._replace(tree, node, unwrap_style(tex), display, "mathml")
        for math in q("math"):
            if not _attached(math, root):
                continue
            display = math.getattr("display") == "block" or math.getattr("mode") == "display"
            self._replace(tree, math, unwrap_style(self._math_tex(math)), display, "mathml")
        for img in q("img"):
            if is_renderer_image(img):
                tex = renderer_tex(img.getattr("src") or "", img.getattr("alt") or "")
                self._replace(tree, img, unwrap_style(tex), False, "img")

    # -- text -----------------------------------------------------------------------------------------

    def _render(self, tree: HTMLTree, root) -> str:
        if self._lynx is not None:
            return self._lynx(root.html)
        from resiliparse.extract.html2text import extract_plain_text

        return extract_plain_text(
            tree,
            main_content=self.main_content,
            alt_texts=False,
            links=False,
            form_fields=False,
            noscript=False,
            list_bullets=True,
            preserve_formatting=True,
            comments=self.comments,
        )

    def _finish(self, text: str, page) -> str:
        """Rewrite delimited TeX in the prose to `$`/`$$`, keep code and converted formulas as they are."""
        scanner = DelimiterScanner(page, self.max_formula_chars) if page.active else None
        if page.custom:
            self._counts["custom_delimiters"] += 1
        events = ScanEvents()
        out: list[str] = []
        prose_words = 0
        for kind, chunk in _segments(text):
            if kind == "prose" and scanner is not None:
                pos = 0
                for f in scanner.scan(chunk, events):
                    out.append(chunk[pos : f.start])
                    prose_words += len(_WORD.findall(chunk[pos : f.start]))
                    if f.tex:
                        d = "$$" if f.display else "$"
                        out.append(f"{d}{f.tex}{d}")
                        self._formulas["delim"] += 1
                    pos = f.end
                out.append(chunk[pos:])
                prose_words += len(_WORD.findall(chunk[pos:]))
            else:
                out.append(chunk)
                if kind == "prose":
                    prose_words += len(_WORD.findall(chunk))
        if events.unbalanced:
            self._counts["unbalanced_delimiters"] += events.unbalanced
        if events.too_long:
            self._counts["formula_too_long"] += events.too_long
        if sum(self._formulas.values()) and prose_words < self.min_prose_words:
            self._counts["all_formula_page"] += 1
        return _BLANK_RUNS.sub("\n\n", "".join(out)).strip()


def _segments(text: str):
    """(kind, text) pieces: "prose", "formula" (converted already) or "code" (fenced), sentinels removed."""
    pos, depth, n = 0, 0, len(text)
    kind = "prose"
    while pos < n:
        m = _SENTINELS.search(text, pos)
        end = m.start() if m else n
        if end > pos:
            yield ("code" if depth else kind), text[pos:end]
        if m is None:
            return
        ch = m.group(0)
        if ch == CODE_OPEN:
            depth += 1
        elif ch == CODE_CLOSE:
            depth = max(depth - 1, 0)
        elif ch == FORMULA_OPEN:
            kind = "formula"
        else:
            kind = "prose"
        pos = m.end()
