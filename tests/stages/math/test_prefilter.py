"""The math prefilter on the shared real pages: every math page a candidate, no page without math, routing."""

from __future__ import annotations

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.math import SHARED_MATH, shared_math_pages
from corpusforge.stages.math.prefilter import MathPrefilter


@pytest.fixture(scope="module")
def docs():
    if not (SHARED_MATH / "gold.jsonl").exists():
        pytest.skip("shared math pages absent")
    return [(p["has_math"], p["html"].decode("utf-8", "replace")) for p in shared_math_pages()]


def _run(stage, docs):
    out = list(stage.run([Document(str(i), html, "web", {}) for i, (_, html) in enumerate(docs)]))
    assert stage.ledger.balanced
    return out


def test_math_pages_pass_and_pages_without_math_are_dropped_with_a_reason(docs):
    stage = MathPrefilter()
    out = _run(stage, docs)
    assert sorted(int(d.id) for d in out) == [i for i, (has_math, _) in enumerate(docs) if has_math]
    assert all(d.source == "math" for d in out)
    assert stage.ledger.dropped == {"no_math_markers": sum(1 for has_math, _ in docs if not has_math)}


def test_the_other_branch_and_flag_only(docs):
    web = _run(MathPrefilter(keep="non_math"), docs)
    assert sorted(int(d.id) for d in web) == [i for i, (has_math, _) in enumerate(docs) if not has_math]
    assert all(d.source == "web" for d in web)
    every = _run(MathPrefilter(keep="all"), docs)
    assert len(every) == len(docs)
    assert sum("math_candidate" in (d.annotations.get("flags") or []) for d in every) == sum(h for h, _ in docs)


def test_latex_in_plain_text_without_renderer_markers_is_found_by_its_commands():
    stage = MathPrefilter()
    page = (
        "<html><body><p>We show that \\frac{a}{b} + \\alpha \\leq \\sum_i x_i holds for every n.</p>"
        "<script>var s = 'line\\nbreak';</script></body></html>"
    )
    plain = "<html><body><p>A path like C:\\users\\documents is not mathematics.</p></body></html>"
    stage.setup()
    assert stage.evidence(page) == "latex_command"
    assert stage.evidence(plain) is None
