"""Math-preserving extraction on the shared real pages: formulas kept per markup kind, none invented,
code verbatim, bad input counted, the `extract` stage's `math` and `lynx` modes."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict

import pytest

from corpusforge.core.config import ConfigError
from corpusforge.core.document import Document
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.math import SHARED_MATH, shared_math_pages
from corpusforge.stages.math.extract import MathExtractor
from corpusforge.stages.math.scoring import formulas_found
from corpusforge.stages.web.extract import Extract


@pytest.fixture(scope="module")
def pages():
    if not (SHARED_MATH / "gold.jsonl").exists():
        pytest.skip("shared math pages absent")
    return shared_math_pages()


@pytest.fixture(scope="module")
def extracted(pages):
    ex = MathExtractor()
    out = {}
    for p in pages:
        text = ex(p["html"].decode("utf-8", "replace"))
        out[p["name"]] = (text, ex.page_report())
    return out


def test_formula_recall_per_markup_kind(pages, extracted):
    found, total = defaultdict(int), defaultdict(int)
    for p in pages:
        if p["has_math"]:
            found[p["kind"]] += formulas_found(extracted[p["name"]][0], p["formulas"])
            total[p["kind"]] += len(p["formulas"])
    assert set(total) >= {"delim", "script", "katex", "mathml", "img"}
    for kind in total:
        assert found[kind] / total[kind] >= 0.9, (kind, found[kind], total[kind])
    assert sum(found.values()) / sum(total.values()) >= 0.95


def test_no_formula_is_invented_on_pages_without_math(pages, extracted):
    negatives = [p["name"] for p in pages if not p["has_math"]]
    assert len(negatives) >= 5
    for name in negatives:
        text, (counts, notes) = extracted[name]
        assert notes["math_formulas"] == 0, (name, counts)
        assert text, name  # the prose is still there


def test_formulas_are_dollar_delimited_in_running_text(extracted):
    text = extracted["se_physics_621479"][0]
    assert "$$\\begin{equation}" in text and "\\end{equation}$$" in text
    script = extracted["mathjax_testsuite_Remove_1"][0]
    assert "$x+0$" in script.replace(" ", "")
    wiki = extracted["wikipedia_pyruvate_dehydrogenase_quinone"][0]
    assert "$\\rightleftharpoons$" in wiki  # {\displaystyle ..} unwrapped, once (not again for the fallback image)


def test_code_blocks_stay_verbatim_and_are_never_read_as_math():
    html = (
        "<html><head><script src='https://cdn.example/mathjax/tex-chtml.js'></script>"
        "<script>MathJax={tex:{inlineMath:[['$','$']]}}</script></head><body><article>"
        "<p>Inline $a^2$ math and a long enough paragraph of prose around it for the extractor.</p>"
        '<pre><code>$price = $cost * 2;\nregex = r"\\(\\d+\\)"</code></pre>'
        "<p>More prose after the code block, with $b_1$ as well, to keep the page an article.</p>"
        "</article></body></html>"
    )
    ex = MathExtractor()
    text = ex(html)
    assert '$price = $cost * 2;\nregex = r"\\(\\d+\\)"' in text
    assert "$a^2$" in text and "$b_1$" in text
    assert ex.page_report()[1]["math_formulas"] == 2


def test_renderer_images_without_alt_give_the_tex_in_their_address():
    html = (
        "<html><body><article><p>The integral <img src='https://latex.codecogs.com/png.latex?\\int_0^1%20x\\,dx'>"
        " and <img src='/cgi-bin/mimetex.cgi?\\alpha+1' alt=''> and"
        " <img src='https://s0.wp.com/latex.php?latex=e%5E%7Bi%5Cpi%7D%2B1%3D0&bg=ffffff' alt=''>"
        " appear in this paragraph of ordinary prose text.</p></article></body></html>"
    )
    text = MathExtractor()(html)
    assert "$\\int_0^1 x\\,dx$" in text and "$\\alpha+1$" in text and "$e^{i\\pi}+1=0$" in text


def _stage_docs(htmls):
    return [Document(f"d{i}", h, "math", {}) for i, h in enumerate(htmls)]


def test_bad_input_is_counted_never_raised():
    mj = "<script src='/mathjax/MathJax.js'></script>"
    prose = "<p>" + "Some ordinary words of prose around the formulas here. " * 5 + "</p>"
    pages = [
        f"<html><head>{mj}</head><body>{prose}<math><mrow><mfrac><mi>a</mi></mrow><msup><mi>x</math>"
        "<math><mfoo><mi>y</mi></mfoo></math></body></html>",
        f"<html><head>{mj}<script>MathJax={{tex:{{inlineMath:[['$','$']]}}}}</script></head>"
        f"<body>{prose}<p>costs $5 and never closes</p></body></html>",
        f"<html><head><script>MathJax.Hub.Config({{tex2jax:{{inlineMath:[['[tex]','[/tex]']]}}}})</script>{mj}</head>"
        f"<body>{prose}<p>custom [tex]a^2[/tex] delimiters</p></body></html>",
        f"<html><head>{mj}</head><body>{prose}<p>$$" + "x+" * 600_000 + "1$$</p></body></html>",
        f"<html><head>{mj}</head><body>" + "".join(f"<p>$$x_{{{i}}}$$</p>" for i in range(20)) + "</body></html>",
        # deeper than the converter goes (200), shallower than the stage's HTML depth guard (256)
        f"<html><body>{prose}<math>" + "<mrow>" * 230 + "<mi>x</mi>" + "</mrow>" * 230 + "</math></body></html>",
    ]
    stage = Extract(extractor="math", timeout_s=0)
    out = list(stage.run(_stage_docs(pages)))
    assert stage.ledger.balanced and len(out) == len(pages)
    extra = stage.ledger.extra
    for reason in (
        "mathml_malformed",
        "mathml_unknown_elements",
        "unbalanced_delimiters",
        "custom_delimiters",
        "formula_too_long",
        "all_formula_page",
        "mathml_too_deep",
    ):
        assert extra.get(reason, 0) >= 1, (reason, extra)
    assert "$a^2$" in out[2].text
    assert "x+x+" not in out[3].text  # the megabyte formula is cut, not passed on
    assert out[4].annotations["math_formulas"] == 20


@pytest.mark.skipif(shutil.which("lynx") is None, reason="lynx not installed")
def test_lynx_render_keeps_the_formulas_too(pages):
    page = next(p for p in pages if p["name"] == "se_math_658871")
    ex = MathExtractor(render="lynx")
    text = ex(page["html"].decode("utf-8", "replace"))
    assert formulas_found(text, page["formulas"]) / len(page["formulas"]) >= 0.9
    stage = Extract(extractor="lynx", timeout_s=0)
    (doc,) = stage.run(_stage_docs([page["html"].decode("utf-8", "replace")]))
    assert "Stack Exchange" in doc.text  # lynx renders the whole page, boilerplate included


def test_lynx_asked_for_without_lynx_is_a_config_error_naming_the_field(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no lynx on this "machine"
    raw = {
        "name": "m",
        "output": str(tmp_path / "o"),
        "input": {"type": "warc", "paths": ["x.warc.gz"]},
        "stages": [{"type": "extract", "extractor": "math", "math": {"render": "lynx"}}],
    }
    with pytest.raises(ConfigError, match=r"stages\[0\] \(extract\): math.render.*lynx is not installed"):
        validate_pipeline(raw)
    raw["stages"] = [{"type": "extract", "extractor": "lynx"}]
    with pytest.raises(ConfigError, match=r"extractor.*apt-get install"):
        validate_pipeline(raw)
    assert os.environ["PATH"] == str(tmp_path)
