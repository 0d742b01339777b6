"""Code-heavy Common Crawl pages (tutorials, docs, Q&A), chosen on raw HTML before code-preserving extraction.

Nemotron-CC-Code keeps web pages that are about code and runs them through the math lane's
render + LLM cleanup (RECIPES.md §1.1); NVIDIA gives no selection threshold. A page qualifies here
when the text of its `<pre>` blocks and multi-line `<code>` blocks (what `extract` with
`extractor: code` keeps verbatim) is a large enough share of the page's main-content text and
has enough lines. Pages without a `<pre` or `<code` tag are rejected on a substring check, so only
candidates pay for parsing. On the shared real pages (../shared/data: 217 article, math and docs
pages), Stack Overflow questions with code, API reference and tutorial pages hold 15-52% of their
text in such blocks, and no other page more than 7%: the default cut, 15%, sits in that gap. A
literal "mostly code" cut (50%) would keep one page of 217.

Like `math_prefilter`, the stage routes: `keep: code` (the code-pages lane) sends candidates on,
re-labelled `source: code_pages`, and drops the rest as `not_code_heavy`; `keep: non_code` gives a
web config the other side; `keep: all` only counts and flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from corpusforge.core.code_blocks import code_blocks
from corpusforge.core.document import Document
from corpusforge.core.html_depth import html_depth_exceeds
from corpusforge.stages.base import Stage, StageConfig

_TAG = re.compile(r"<(?:pre|code)[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class CodeShare:
    """Characters and non-blank lines inside code blocks, and characters of main-content text."""

    code_chars: int
    code_lines: int
    text_chars: int

    @property
    def share(self) -> float:
        return self.code_chars / self.text_chars if self.text_chars else 0.0


def code_share(html: str, min_lines: int = 0) -> CodeShare:
    """How much of a page's main-content text sits in `<pre>` and multi-line `<code>` blocks.

    Pages with fewer than `min_lines` code lines are not measured further (text_chars 0): main-content
    extraction is the expensive part, and on some large pages it costs seconds."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    body = tree.body
    if body is None:
        return CodeShare(0, 0, 0)
    texts = [text.strip() for _, text in code_blocks(body)]
    chars = sum(map(len, texts))
    lines = sum(1 for text in texts for line in text.split("\n") if line.strip())
    if lines < min_lines or not chars:
        return CodeShare(chars, lines, 0)
    main = extract_plain_text(tree, main_content=True, links=False, alt_texts=False, form_fields=False)
    # Code the boilerplate removal kept counts once; text outside it is the denominator's floor.
    return CodeShare(chars, lines, max(len(main), chars))


class CodePagePrefilter(Stage):
    """Routes pages by how much of their text is code blocks: code-heavy pages one way, the rest the other."""

    type = "code_page_prefilter"
    config: Config

    class Config(StageConfig):
        # code: keep code-heavy pages (the code-pages lane); non_code: keep the rest; all: keep both, flag
        keep: Literal["code", "non_code", "all"] = "code"
        # Share of main-content characters inside <pre>/multi-line <code>: 0.15 is the gap measured on the
        # shared real pages (docs and Q&A with code 0.15-0.52, every other page <= 0.07; module docstring).
        min_code_share: float = Field(0.15, ge=0.0, le=1.0)
        min_code_lines: int = Field(10, ge=0)  # a snippet or two is not a code page
        source: str = "code_pages"  # the `source` code-heavy pages carry on, with keep: code
        # Main-content extraction slows with the square of the nesting depth; `extract` drops pages deeper than
        # its own max_depth (libxml2's 256) as too_deep, so deeper pages are not measured here either.
        max_depth: int = Field(256, ge=1)

    def is_code_page(self, html: str) -> CodeShare | None:
        """The page's code share when it qualifies, else None."""
        if not _TAG.search(html):
            return None
        found = code_share(html, self.config.min_code_lines)
        if found.share >= self.config.min_code_share and found.code_lines >= self.config.min_code_lines:
            return found
        return None

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        cfg, ledger = self.config, self.ledger
        for doc in docs:
            if html_depth_exceeds(doc.text, cfg.max_depth):
                if cfg.keep == "code":
                    self.drop(doc, "too_deep")
                    continue
                ledger.count("too_deep_not_measured")  # passed on unmeasured: `extract` drops it by name
                yield doc
                continue
            found = self.is_code_page(doc.text)
            if found is not None:
                ledger.count("code_pages")
                ledger.count("code_block_lines", found.code_lines)
                ledger.histogram("code_share", f"{min(int(found.share * 10), 9) / 10:.1f}")
            if cfg.keep == "code":
                if found is None:
                    self.drop(doc, "not_code_heavy")
                    continue
                doc.source = cfg.source
            elif cfg.keep == "non_code":
                if found is not None:
                    self.drop(doc, "code_page")
                    continue
            elif found is not None:
                doc.annotations["flags"] = list(doc.annotations.get("flags") or []) + ["code_page"]
            yield doc
