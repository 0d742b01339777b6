"""The code-page prefilter on real pages: Q&A and reference pages with code pass, articles and math pages do not."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from corpusforge.core.document import Document
from corpusforge.stages.code.page_prefilter import CodePagePrefilter, code_share

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
MATH = DATA / "math"

pytestmark = pytest.mark.skipif(not (MATH / "gold.jsonl").exists(), reason="shared pages absent")


def _page(name: str) -> str:
    return gzip.decompress((MATH / "pages" / f"{name}.html.gz").read_bytes()).decode("utf-8", "replace")


def test_code_heavy_pages_pass_and_the_rest_is_routed_by_reason():
    names = [json.loads(line)["name"] for line in (MATH / "gold.jsonl").read_text().splitlines()]
    articles = sorted((DATA / "extraction" / "scrapinghub" / "html").glob("*.html.gz"))[:20]
    docs = [Document(n, _page(n), "web", {}) for n in names]
    docs += [Document(p.name, gzip.decompress(p.read_bytes()).decode("utf-8", "replace"), "web", {}) for p in articles]
    stage = CodePagePrefilter()
    kept = {d.id for d in stage.run(docs)}
    # Stack Overflow's question with an Android layout and class, the Android and Microsoft Learn reference pages
    assert kept == {"neg_stackoverflow_35302978", "neg_android_tradefed", "neg_mslearn_debug_cpp"}
    assert stage.ledger.dropped == {"not_code_heavy": len(docs) - 3} and stage.ledger.balanced
    assert stage.ledger.extra["code_pages"] == 3
    # a Stack Overflow page with one short snippet in a long thread is not a code page
    share = code_share(_page("neg_stackoverflow_18327314"))
    assert 0 < share.share < 0.15
    assert all(d.source == "code_pages" for d in docs if d.id in kept)
    few = [d for d in docs if d.id in kept or d.id.startswith("se_")]
    other = CodePagePrefilter(keep="non_code")
    assert {d.id for d in other.run(few)} == {d.id for d in few} - kept
    assert other.ledger.dropped == {"code_page": 3}
    flagged = CodePagePrefilter(keep="all")
    out = list(flagged.run(few))
    assert len(out) == len(few) and sum("code_page" in (d.annotations.get("flags") or []) for d in out) == 3


def test_nested_blocks_count_once_and_a_pre_in_a_one_line_code_counts():
    # <code> nested 3,000 deep: each inner <code> text is part of the outer one's, so only the outer counts
    # (counting each, an ancestor search and a text read per tag, grew with depth times tags)
    nested = "<html><body><p>" + "<code>x" * 3000 + "\ny" + "</code>" * 3000 + "</p></body></html>"
    share = code_share(nested)
    assert (share.code_chars, share.code_lines) == (3002, 2)
    mixed = "<html><body><p>See <code>run<pre>a = 1\nb = 2</pre></code>; <pre>c\n<pre>d</pre></pre></p></body></html>"
    share = code_share(mixed)
    assert (share.code_chars, share.code_lines) == (len("a = 1\nb = 2") + len("c\nd"), 4)


def test_pages_nested_past_the_extractors_depth_are_not_measured():
    # main-content extraction slows with the square of the depth: such a page would take seconds here, and
    # `extract` drops it as too_deep anyway
    code = "".join(f"<pre>def f{i}(x):\n    return x + {i}\n</pre>" for i in range(20))
    deep = "<html><body>" + "<div>" * 2000 + code + "</div>" * 2000 + "</body></html>"
    shallow = "<html><body><article>" + code + "</article></body></html>"
    docs = [Document("deep", deep, "web", {}), Document("shallow", shallow, "web", {})]
    stage = CodePagePrefilter()
    assert [d.id for d in stage.run(docs)] == ["shallow"]
    assert stage.ledger.dropped == {"too_deep": 1} and stage.ledger.balanced
    other = CodePagePrefilter(keep="non_code")
    assert [d.id for d in other.run(docs)] == ["deep"]
    assert other.ledger.extra["too_deep_not_measured"] == 1 and other.ledger.dropped == {"code_page": 1}
