"""Delimiters: what a page's MathJax/KaTeX configuration turns on, and a scanner that stays linear."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from corpusforge.stages.math.delimiters import DelimiterScanner, PageDelimiters, ScanEvents, page_delimiters


def _scan(text: str, page: PageDelimiters, limit: int = 20_000):
    events = ScanEvents()
    return [(f.tex, f.display) for f in DelimiterScanner(page, limit).scan(text, events)], events


def test_no_renderer_no_text_math():
    assert not page_delimiters("<html><body>It costs $5 and $10.</body></html>").active


def test_mathjax_defaults_leave_single_dollar_off():
    page = page_delimiters("<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script>")
    found, events = _scan(r"costs $5 and $10; \(x\) and $$y$$ and \[z\] \begin{align}a&=b\end{align}", page)
    assert found == [("x", False), ("y", True), ("z", True), (r"\begin{align}a&=b\end{align}", True)]
    assert not page.custom


def test_stack_exchange_and_katex_and_custom_configs_are_read():
    se = page_delimiters(
        '<script>MathJax.Hub.Config({"HTML-CSS": {}, tex2jax: { inlineMath: [ ["$", "$"], '
        '["\\\\\\\\(","\\\\\\\\)"] ], displayMath: [ ["$$","$$"], ["\\\\[", "\\\\]"] ], '
        "processEscapes: true }});</script>"
    )
    assert {(d.left, d.right, d.display) for d in se.delimiters} == {
        ("$", "$", False),
        ("\\\\(", "\\\\)", False),
        ("$$", "$$", True),
        ("\\[", "\\]", True),
    }
    katex = page_delimiters(
        "<link href='katex.min.css'><script>renderMathInElement(document.body, {delimiters: ["
        "{left: '$$', right: '$$', display: true}, {left: '$', right: '$', display: false}]});"
        "</script>"
    )
    assert _scan("so $a$ and $$b$$", katex)[0] == [("a", False), ("b", True)]
    custom = page_delimiters(
        "<script>MathJax.Hub.Config({tex2jax: {inlineMath: [['[tex]','[/tex]']]}})</script>"
        "<script src='/MathJax.js'></script>"
    )
    assert custom.custom and _scan("x [tex]a^2[/tex] y", custom)[0] == [("a^2", False)]


def test_escaped_and_unbalanced_dollars_stay_text():
    page = PageDelimiters(
        (page_delimiters("<script>MathJax={tex:{inlineMath:[['$','$']]}}</script>mathjax").delimiters), True
    )
    found, events = _scan("price \\$5, then $x$ and a lone $ at the end", page)
    assert found == [("x", False)] and events.unbalanced == 1
    found, events = _scan("first $a\n\nsecond paragraph$ is not a formula", page)
    assert found == [] and events.unbalanced >= 1


def test_over_long_formulas_are_cut():
    page = page_delimiters("mathjax")
    found, events = _scan("a $$" + "x" * 50_000 + "$$ b $$y$$", page)
    assert ("y", True) in found and events.too_long == 1


def test_a_megabyte_of_unbalanced_delimiters_scans_in_linear_time():
    # In a subprocess with a generous bound (~5.5 MB of input in 30 s; it takes ~2 s): a quadratic
    # scan of any one of these inputs takes hours.
    code = textwrap.dedent(r"""
        import sys, time
        from corpusforge.stages.math.delimiters import DelimiterScanner, ScanEvents, page_delimiters
        from corpusforge.stages.math.extract import MathExtractor
        page = page_delimiters("<script>MathJax={tex:{inlineMath:[['$','$'],['\\(','\\)']]}}</script>mathjax")
        scanner = DelimiterScanner(page, 20_000)
        for text in ("\\(" * 500_000, "$$ " * 350_000, "\\begin{equation}" * 70_000, "$x\n\n" * 250_000,
                     "\\[" * 250_000 + "\\(" * 250_000):
            list(scanner.scan(text, ScanEvents()))
        html = "<html><head><script src='mathjax.js'></script></head><body><p>" + "\\(" * 500_000 + "</p></body></html>"
        MathExtractor()(html)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
