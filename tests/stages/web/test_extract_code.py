"""The code-preserving extractor: code blocks come out verbatim and fenced; prose as resiliparse gives it."""

from corpusforge.core.document import Document
from corpusforge.stages.web.extract import Extract, resiliparse_text
from corpusforge.stages.web.extract_code import code_blocks_verbatim

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
