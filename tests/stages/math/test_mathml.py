"""MathML to LaTeX: the elements pages use, and malformed or runaway input that must not raise."""

from __future__ import annotations

import pytest
from resiliparse.parse.html import HTMLTree

from corpusforge.stages.math.mathml import MathMLTooDeep, convert, tex_annotation


def _math(markup: str):
    return HTMLTree.parse(f"<p>{markup}</p>").document.query_selector("math")


@pytest.mark.parametrize(
    "mathml, tex",
    [
        (
            "<math><mi>x</mi><mo>=</mo><mfrac><mrow><mo>−</mo><mi>b</mi><mo>±</mo><msqrt><msup><mi>b</mi><mn>2</mn></msup>"
            "<mo>−</mo><mn>4</mn><mi>a</mi><mi>c</mi></msqrt></mrow><mrow><mn>2</mn><mi>a</mi></mrow></mfrac></math>",
            r"x=\frac{-b\pm\sqrt{b^{2}-4ac}}{2a}",
        ),
        (
            "<math><munderover><mo>∑</mo><mrow><mi>k</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover>"
            "<msubsup><mi>a</mi><mi>k</mi><mn>2</mn></msubsup><mo>≤</mo><mi>α</mi></math>",
            r"\sum_{k=1}^{n}a_{k}^{2}\leq\alpha",
        ),
        (
            "<math><mover><mi>x</mi><mo>^</mo></mover><mo>+</mo><mroot><mi>y</mi><mn>3</mn></mroot>"
            "<mtext>if x &gt; 0</mtext></math>",
            r"\hat{x}+\sqrt[3]{y}\text{if x > 0}",
        ),
        (
            "<math><mi>sin</mi><mi>θ</mi><munder><mi>lim</mi><mrow><mi>n</mi><mo>→</mo><mi>∞</mi></mrow></munder>"
            "<mi mathvariant='double-struck'>R</mi></math>",
            r"\sin\theta\lim_{n\to\infty}\mathbb{R}",
        ),
        (
            "<math><mrow><mo>(</mo><mtable><mtr><mtd><mn>1</mn></mtd><mtd><mn>0</mn></mtd></mtr><mtr><mtd><mn>0</mn></mtd>"
            "<mtd><mn>1</mn></mtd></mtr></mtable><mo>)</mo></mrow></math>",
            r"(\begin{matrix}1 & 0 \\ 0 & 1\end{matrix})",
        ),
        (
            "<math><munder><mrow><mi>x</mi><mo>+</mo><mi>y</mi></mrow><mo>⏟</mo></munder><mover><mi>v</mi><mo>→</mo></mover>"
            "<msub><mi>F</mi><mrow><mi>n</mi><mo>−</mo><mn>1</mn></mrow></msub></math>",
            r"\underbrace{x+y}\vec{v}F_{n-1}",
        ),
    ],
)
def test_presentation_mathml_becomes_the_latex_an_author_writes(mathml, tex):
    assert convert(_math(mathml))[0] == tex


def test_tex_annotation_is_preferred_source():
    m = _math(
        "<math><semantics><mi>a</mi><annotation encoding='application/x-tex'>a_{1}</annotation></semantics></math>"
    )
    assert tex_annotation(m) == "a_{1}"
    assert convert(m)[0] == "a"  # conversion reads the presentation branch only


def test_malformed_mathml_converts_what_is_there_and_reports_unknown_elements():
    tex, report = convert(_math("<math><mfrac><mi>a</mi></mfrac><msup><mi>x</mi><mfoo><mi>y</mi></mfoo></math>"))
    assert tex.startswith(r"\frac{a}{}")  # the missing denominator is an empty group, not an error
    assert "mfoo" in report.unknown and report.missing_children == 1


def test_runaway_nesting_raises_the_converters_own_error():
    deep = "<mrow>" * 400 + "<mi>x</mi>" + "</mrow>" * 400
    with pytest.raises(MathMLTooDeep):
        convert(_math(f"<math>{deep}</math>"), max_depth=200)
