"""The code blocks of a parsed page: every outermost `<pre>`, and every `<code>` outside one whose text spans lines.

The code-page prefilter (how much of a page is code) and the code-preserving extractor (which blocks to keep
verbatim) read the same blocks. They are found in one walk of the DOM, so the cost grows with the page, not
with blocks times page: iterating resiliparse's `query_selector_all` result re-runs the selector for every
item read, which on API docs with thousands of inline `<code>` tags took longer than the whole extraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TooManyCodeBlocks(ValueError):
    """A page holds more code blocks than the caller's cap."""


@dataclass
class _BlockWalk:
    """Pre-order walk state: the blocks found, and the open `<pre>`/`<code>` elements the walk is inside.

    `open` holds (depth, shuts) per enclosing block element: `shuts` when nothing beneath it can be a block
    (a `<pre>`, or a multi-line `<code>`, taken whole); a single-line `<code>` only rules out `<code>` beneath
    it, whose text is part of its own and so has no inner line break either, while a `<pre>` inside it is
    still a block.
    """

    max_blocks: int | None = None
    blocks: list[tuple[Any, str]] = field(default_factory=list)  # (resiliparse DOMNode, its text)
    open: list[tuple[int, bool]] = field(default_factory=list)

    def visit(self, ctx) -> None:
        tag = ctx.node.tag
        depth, opened = ctx.depth, self.open
        while opened and opened[-1][0] >= depth:  # walked out of that element's subtree
            opened.pop()
        if tag != "pre" and tag != "code":
            return
        if opened and (opened[-1][1] or tag == "code"):
            return
        text = ctx.node.text or ""
        block = tag == "pre" or "\n" in text.strip()
        opened.append((depth, block))
        if block and text.strip():
            self.blocks.append((ctx.node, text))
            if self.max_blocks is not None and len(self.blocks) > self.max_blocks:
                raise TooManyCodeBlocks(f"more than {self.max_blocks} code blocks")


def code_blocks(body: Any, max_blocks: int | None = None) -> list[tuple[Any, str]]:
    """(node, text) of each non-blank code block under a resiliparse DOM node, in document order.

    Raises TooManyCodeBlocks past `max_blocks` blocks (None: no cap), before the caller edits anything.
    """
    from resiliparse.parse.html import traverse_dom

    walk = _BlockWalk(max_blocks)
    traverse_dom(body, start_callback=walk.visit, elements_only=True)
    return walk.blocks
