"""Code-preserving extraction for code-heavy pages (tutorials, docs, Q&A), as Nemotron-CC-Code keeps them.

Main-content extractors flatten `<pre>` blocks: indentation and line breaks go, which ruins code. This
extractor takes every `<pre>` (and every multi-line `<code>` outside one) out of the DOM first, keeps
its text verbatim (entities decoded, whitespace as written), puts a placeholder paragraph in its
place, runs resiliparse's main-content extraction on the rest, and puts each block back as a fenced
block where its placeholder survived. A block whose placeholder the boilerplate removal dropped
(a sidebar snippet, a footer) goes with it. The LLM cleanup pass with the code-preserving prompt
belongs to the generation layer and is not part of this extractor.

The blocks come from `core.code_blocks` (one walk of the DOM); pages with more blocks than a caller's
cap raise `TooManyCodeBlocks` before the DOM is edited.
"""

from __future__ import annotations

import re

from corpusforge.core.code_blocks import code_blocks

_PLACEHOLDER = "corpusforgecodeblock"
_LANG_CLASS = re.compile(r"(?:^|\s)(?:language|lang|highlight|brush:?)-?\s*([A-Za-z0-9+#-]+)")


def _language(node) -> str:
    """A language hint from the block's or its child's class (`language-python`, `lang-js`, ...)."""
    for n in (node, node.first_element_child):
        if n is None:
            continue
        m = _LANG_CLASS.search(n.class_name or "")
        if m:
            return m.group(1).lower()
    return ""


def code_blocks_verbatim(html: str, max_blocks: int | None = None) -> str:
    """Main-content text of a page with its code blocks kept verbatim in ``` fences.

    Raises TooManyCodeBlocks when the page has more than `max_blocks` blocks (None: no cap).
    """
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    body = tree.body
    if body is None:
        return ""
    found = code_blocks(body, max_blocks)
    # A page whose own text holds the placeholder word gets a longer one, so no text of its own is replaced.
    prefix, page_text = _PLACEHOLDER, body.text or ""
    while prefix in page_text:
        prefix += "x"
    blocks: list[tuple[str, str]] = []
    for node, text in found:
        marker, label, parent = (
            tree.create_element("p"),
            tree.create_text_node(f"{prefix}{len(blocks):05d}"),
            node.parent,
        )
        if marker is None or label is None or parent is None:
            continue
        marker.append_child(label)
        blocks.append((_language(node), text.strip("\n").rstrip()))
        parent.replace_child(marker, node)
    text = extract_plain_text(
        tree,
        main_content=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        list_bullets=True,
        preserve_formatting=True,
        comments=False,
    )

    def restore(m: re.Match) -> str:
        lang, code = blocks[int(m.group(1))]
        return f"\n```{lang}\n{code}\n```\n"

    # At least five digits (the placeholder's zero padding), as many as the block count needs past 99,999.
    text = re.sub(re.escape(prefix) + r"(\d{5,})", restore, text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
