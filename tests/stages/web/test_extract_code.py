"""The code-preserving extractor: code blocks come out verbatim and fenced; prose as resiliparse gives it."""

import gzip
import re
from pathlib import Path

import pytest

from corpusforge.core.code_blocks import TooManyCodeBlocks
from corpusforge.core.document import Document
from corpusforge.stages.web.extract import Extract, resiliparse_text
from corpusforge.stages.web.extract_code import _language, code_blocks_verbatim

SNIPPET = (
    "def by_value(d):\n    items = sorted(d.items(), key=lambda kv: kv[1], reverse=True)\n"
    "    return {k: v for k, v in items}"
)
PAGE = f"""<html><body><nav><a href="/">Home</a> <a href="/docs">Docs</a></nav><article>
<h1>Sorting dictionaries by value</h1>
<p>Python dictionaries keep insertion order, so sorting the items and building a new dictionary is enough.
The helper below takes any mapping and returns a new one ordered by value, largest first.</p>
<div class="snippet"><code class="language-python">{SNIPPET}</code></div>
<p>For ties the original order wins, because sorted is stable; that matters when counts come from a counter.</p>
<pre>counts = {{"a": 3, "b": 5}}
if counts["a"] &lt; counts["b"]:
    print(by_value(counts))</pre>
<p>That prints the dictionary with b first, then a, which is what the report expects to show.</p>
</article><footer>Copyright 2024 Example Docs. All rights reserved.</footer></body></html>"""


def test_code_blocks_are_kept_verbatim_and_fenced():
    text = code_blocks_verbatim(PAGE)
    assert f"```python\n{SNIPPET}\n```" in text
    assert '```\ncounts = {"a": 3, "b": 5}\nif counts["a"] < counts["b"]:\n    print(by_value(counts))\n```' in text
    assert "Python dictionaries keep insertion order" in text and "Home" not in text
    # the plain main-content extraction flattens the multi-line <code> outside a <pre>
    assert SNIPPET not in resiliparse_text(PAGE)


def test_extract_stage_code_mode():
    stage = Extract(extractor="code")
    (doc,) = list(stage.run([Document("p", PAGE)]))
    assert SNIPPET in doc.text and stage.ledger.balanced


# -- the one-walk block collection against the selector-based one it replaced ---------------------------------

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
_OLD_PLACEHOLDER = "corpusforgecodeblock{:05d}"
_OLD_PLACEHOLDER_RE = re.compile(r"corpusforgecodeblock(\d{5})")


def _selector_based(html: str) -> str:
    """The extractor as it was before the one-walk rewrite (query_selector_all + closest per <code>), verbatim."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    body = tree.body
    if body is None:
        return ""
    blocks: list[tuple[str, str]] = []
    nodes = list(body.query_selector_all("pre"))
    nodes += [c for c in body.query_selector_all("code") if c.closest("pre") is None and "\n" in (c.text or "").strip()]
    for node in nodes:
        text = (node.text or "").strip("\n")
        marker, label, parent = (
            tree.create_element("p"),
            tree.create_text_node(_OLD_PLACEHOLDER.format(len(blocks))),
            node.parent,
        )
        if not text.strip() or marker is None or label is None or parent is None:
            continue
        marker.append_child(label)
        blocks.append((_language(node), text.rstrip()))
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

    text = _OLD_PLACEHOLDER_RE.sub(restore, text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _real_code_pages() -> list[tuple[str, str]]:
    """Every shared real page with a <pre> or <code> tag: Q&A, API docs, tutorials (the code sample's pages too)."""
    pages = [
        (p.name, gzip.decompress(p.read_bytes()).decode("utf-8", "replace")) for p in SHARED.glob("math/pages/*.gz")
    ]
    pages += [
        (p.parent.name, p.read_text("utf-8", "replace")) for p in SHARED.glob("extraction/readability/*/source.html")
    ]
    return sorted((name, html) for name, html in pages if _HAS_CODE.search(html))


_HAS_CODE = re.compile(r"<(?:pre|code)[\s>]", re.IGNORECASE)
# Markup the real pages have little of: blank, nested and table-held blocks, code in code, a pre in a one-line code.
EDGE_CASES = [
    "<html><body><article><p>Intro text for the page that explains things at length.</p>"
    "<pre>   </pre><pre>\n\n  indented\n\tline\n\n</pre><pre><pre>inner\nblock</pre>tail</pre>"
    "<ul><li><code>one line</code> and <code>two\nlines</code></li></ul>"
    '<table><tr><td><code class="lang-sql">SELECT 1\nFROM t</code></td></tr></table>'
    '<div class="highlight-ruby"><code>outer<code>inner\nnested</code></code></div>'
    "<p>A <code>call<pre>pre in\na one-line code</pre></code> here.</p><code>\n\n</code>"
    "<p>Closing words of the article that carry on for a while to be main content.</p></article></body></html>",
    '<html><body><nav><pre>menu\nitems</pre></nav><main><h2>Docs</h2><pre class="language-go">func main() {\n'
    "\tfmt.Println(&quot;hi&quot;)\n}</pre><p>Then run it with the usual command and read the output.</p></main>"
    "<footer><code>foot\ncode</code></footer></body></html>",
]


@pytest.mark.skipif(not SHARED.exists(), reason="shared real pages absent")
def test_one_walk_matches_the_selector_based_extractor_on_real_pages():
    pages = _real_code_pages()
    assert len(pages) >= 15 and sum("```" in code_blocks_verbatim(html) for _, html in pages) >= 10
    for name, html in pages:
        if name == "katex_docs_supported.html.gz":
            continue  # the old code's quadratic case: compared in the slow test below
        assert code_blocks_verbatim(html) == _selector_based(html), name


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.exists(), reason="shared real pages absent")
def test_one_walk_matches_on_the_page_with_a_thousand_code_tags():
    html = gzip.decompress((SHARED / "math" / "pages" / "katex_docs_supported.html.gz").read_bytes()).decode()
    assert html.count("<code") > 1000 and code_blocks_verbatim(html) == _selector_based(html)


@pytest.mark.parametrize(("html", "fences"), zip(EDGE_CASES, (5, 1)))
def test_one_walk_matches_on_nested_blank_and_table_blocks(html, fences):
    new = code_blocks_verbatim(html)
    assert new == _selector_based(html) and new.count("```") == 2 * fences


def test_a_pre_inside_a_multi_line_code_stays_in_the_code_block():
    # the selector-based version took the <pre> out first and left its placeholder word inside the <code>'s text
    html = "<html><body><article><p>Long enough paragraph of prose to be kept as main content.</p>"
    html += "<code>a = 1\n<pre>b = 2</pre></code></article></body></html>"
    text = code_blocks_verbatim(html)
    assert "```\na = 1\nb = 2\n```" in text and "corpusforgecodeblock" not in text
    assert "corpusforgecodeblock" in _selector_based(html)


def _adversarial_page(inline: int, multi_line: int, pre: int, depth: int = 40) -> str:
    """API-docs-like page: thousands of inline <code>, multi-line <code> and <pre><code>, pre blocks in deep divs."""
    parts = ["<html><body><article><h1>API reference</h1>"]
    for i in range(pre):
        parts.append(f"<p>Example {i} shows how the call works in practice with real arguments.</p>")
        parts.append(f'<pre><code class="language-python">def f{i}(x):\n    return x + {i}\n</code></pre>')
        parts.append("<div>" * depth + f"<pre>for i in range({i}):\n    print(i)</pre>" + "</div>" * depth)
    parts += [f"<p>Use <code>x{i}</code> with <code>y{i}</code> to call it.</p>" for i in range(inline)]
    parts += [f'<div><code class="lang-js">let a{i} = 1;\nlet b = a{i} + 2;</code></div>' for i in range(multi_line)]
    return "".join(parts) + "</article></body></html>"


def test_adversarial_page_keeps_every_multi_line_block():
    # the selector-based version re-ran its selector per <code> read: minutes on this page
    html = _adversarial_page(inline=5000, multi_line=2000, pre=500)
    text = code_blocks_verbatim(html)
    assert text.count("```python\ndef f") == 500 and text.count("```\nfor i in range(") == 500
    assert text.count("```js\nlet a") == 2000 and "Use x4999 with y4999" in text


@pytest.mark.slow
def test_placeholders_past_five_digits():
    html = "<html><body><article>" + "".join(f"<p>step {i}</p><pre>b{i}</pre>" for i in range(100_002))
    blocks = re.findall(r"```\n(b\d+)\n```", code_blocks_verbatim(html + "</article></body></html>"))
    assert blocks == [f"b{i}" for i in range(100_002)]


def test_a_page_using_the_placeholder_word_keeps_its_text():
    html = "<html><body><article><p>Step one of the guide, explained in a full sentence of prose.</p><pre>x = 1</pre>"
    html += "<p>corpusforgecodeblock00000 and corpusforgecodeblock00001 are words this page uses.</p>"
    html += "</article></body></html>"
    text = code_blocks_verbatim(html)
    assert "```\nx = 1\n```" in text and "corpusforgecodeblock00000 and corpusforgecodeblock00001 are" in text


def test_too_many_code_blocks_is_a_named_drop():
    many = "<html><body><article>" + "<pre>x</pre>" * 30 + "</article></body></html>"
    with pytest.raises(TooManyCodeBlocks):
        code_blocks_verbatim(many, max_blocks=29)
    assert code_blocks_verbatim(many, max_blocks=30).count("```") == 60
    stage = Extract(extractor="code", max_code_blocks=29)
    out = list(stage.run([Document("many", many), Document("p", PAGE)]))
    assert [d.id for d in out] == ["p"] and stage.ledger.dropped == {"too_many_code_blocks": 1}
    assert stage.ledger.balanced
