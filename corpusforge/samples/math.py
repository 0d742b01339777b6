"""Math pages for the demo: WARCs built at sample time from the shared real pages (`../shared/data/math`).

The shared set holds real pages of every markup kind a math extractor meets (MathJax delimiters,
`<script type="math/tex">`, KaTeX, MathML, LaTeX renderer images) and pages with no math; the
repository carries none of them, so the WARCs exist only where the shared data does. Added to
them, so each math-lane stage has work:
- an exact copy (another URL) and a near copy (a sentence edited) of one page (dedup);
- a MathJax page quoting one real MATH-500 problem typeset differently (`\\dfrac`, `\\left( \\right)`,
  `\\,` spacing) and a forum page quoting one real GSM8K question (math-aware decontamination);
- bad input: malformed MathML, an unbalanced `$`, a custom-delimiter MathJax config, a 100k-character
  formula, a page that is all formula.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

from corpusforge.samples.web import SHARED_BENCHMARKS, wrap_pages_as_warc

SHARED_MATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "math"
# After the four web sample files, so `sample/warc/*.warc.gz` lists both lanes' input.
WARC_NAMES = (
    "CC-MAIN-20240220211055-20240221001055-00004.warc.gz",
    "CC-MAIN-20240220211055-20240221001055-00005.warc.gz",
)
_MATHJAX = (
    "<script>MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}};</script>"
    "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script>"
)


def shared_math_pages(root: Path = SHARED_MATH) -> list[dict]:
    """The shared pages' gold rows, each with its HTML bytes under `html`."""
    rows = []
    for line in (root / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["html"] = gzip.decompress((root / "pages" / f"{row['name']}.html.gz").read_bytes())
        rows.append(row)
    return rows


def _page(title: str, body: str, head: str = _MATHJAX) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body><nav><a href='/'>Home</a> | <a href='/forum'>Forum</a></nav><main><article>"
        f"<h1>{title}</h1>{body}</article></main><footer>Site footer, all rights reserved.</footer>"
        "</body></html>"
    ).encode()


def restyle_latex(tex: str) -> str:
    """The same problem typeset another way, as copies on the web are: `\\tfrac12` for `\\frac{1}{2}`,
    `\\dfrac` for `\\frac`, `\\left( \\right)`, thin spaces around `=`, `x²` for `x^2`, `π` for `\\pi`."""
    tex = re.sub(r"\\frac\{(\d)\}\{(\d)\}", r"\\tfrac\1\2", tex)
    tex = re.sub(r"\\frac(?=\s*\{)", r"\\dfrac", tex)
    tex = re.sub(r"\^\{?2\}?(?![\d}])", "²", tex)
    tex = re.sub(r"\\pi(?![A-Za-z])", "π", tex)
    return tex.replace("(", r"\left( ").replace(")", r" \right)").replace("=", r"\,=\,")


def _benchmark_items(rng: random.Random) -> tuple[str | None, str | None]:
    """One real MATH-500 problem and one GSM8K test question, when the shared benchmarks exist."""
    math500 = gsm8k = None
    path = SHARED_BENCHMARKS / "math500" / "test.jsonl"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        candidates = [json.loads(x)["question"] for x in lines]
        candidates = [
            q
            for q in candidates
            if "(" in q and len(q.split()) >= 25 and ("^2" in q or "\\pi" in q or re.search(r"\\frac\{\d\}\{\d\}", q))
        ]
        math500 = candidates[rng.randrange(len(candidates))] if candidates else None
    path = SHARED_BENCHMARKS / "gsm8k" / "test.jsonl"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        gsm8k = json.loads(lines[rng.randrange(len(lines))])["question"]
    return math500, gsm8k


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _captures(rng: random.Random, rows: list[dict]) -> list[dict]:
    # Some gold addresses carry a note after the URL ("... (as deployed 2018-08-20)"): the URL is the first word.
    caps = [
        {
            "url": r["url"].split()[0] if r["url"].startswith("http") else f"https://example.org/{r['name']}",
            "payload": r["html"],
            "name": r["name"],
        }
        for r in rows
    ]
    se = next((c for c in caps if c["name"].startswith("se_")), caps[0])
    caps.append({"url": se["url"] + "?share=1", "payload": se["payload"], "name": "copy"})
    text = se["payload"].decode("utf-8", "replace")
    cut = text.find("</p>", text.find('js-post-body" itemprop="text">'))  # an edit inside the question body
    edited = text[:cut] + " (Edited: fixed a typo.)" + text[cut:] if cut > 0 else text + "<p>Edited.</p>"
    caps.append({"url": se["url"] + "/edited", "name": "near_copy", "payload": edited.encode("utf-8")})
    math500, gsm8k = _benchmark_items(rng)
    prose = (
        "<p>I have been working through a problem set for my exam and got stuck on this one. "
        "I tried expanding everything and substituting, but the algebra gets messy quickly.</p>"
    )
    if math500:
        caps.append(
            {
                "url": "https://homework-forum.example.com/t/9132",
                "name": "planted_math500",
                "payload": _page(
                    "Stuck on this problem",
                    prose
                    + f"<p>{_escape(restyle_latex(math500))}</p>"
                    + "<p>Any hints would be appreciated, thanks in advance.</p>",
                ),
                "planted": ("math500", math500),
            }
        )
    if gsm8k:
        caps.append(
            {
                "url": "https://homework-forum.example.com/t/9133",
                "name": "planted_gsm8k",
                "payload": _page("Word problem help", prose + f"<p>{_escape(gsm8k)}</p>"),
                "planted": ("gsm8k", gsm8k),
            }
        )
    filler = (
        "<p>The identity follows from expanding both sides and comparing coefficients term by term, "
        "which is the standard method taught in a first course on algebra and analysis.</p>"
    )
    caps += [
        {
            "url": "https://bad-input.example.org/mathml",
            "name": "malformed_mathml",
            "payload": _page(
                "Broken MathML",
                filler + "<p>Here <math><mrow><mfrac><mi>a</mi></mrow><msup><mi>x"
                "</math> and <math><mfoo><mi>y</mi></mfoo></math> end.</p>",
            ),
        },
        {
            "url": "https://bad-input.example.org/dollar",
            "name": "unbalanced_dollar",
            "payload": _page(
                "Prices", filler + "<p>It costs $5 and the formula $x^2 + y^2 never closes, nor does $z.</p>"
            ),
        },
        {
            "url": "https://bad-input.example.org/custom",
            "name": "custom_delimiters",
            "payload": _page(
                "Custom delimiters",
                filler + "<p>Inline [tex]a^2+b^2=c^2[/tex] and %%\\int_0^1 x\\,dx%% both typeset.</p>",
                head="<script>MathJax.Hub.Config({tex2jax: {inlineMath: [['[tex]','[/tex]']], "
                "displayMath: [['%%','%%']]}});</script><script src='/MathJax.js'></script>",
            ),
        },
        {
            "url": "https://bad-input.example.org/huge",
            "name": "huge_formula",
            "payload": _page("A dump", filler + "<p>$$" + "x+" * 50_000 + "1$$</p>"),
        },
        {
            "url": "https://bad-input.example.org/all-formula",
            "name": "all_formula",
            "payload": _page("Table", "".join(f"<p>$$x_{{{i}}} = {i}^2$$</p>" for i in range(30))),
        },
    ]
    rng.shuffle(caps)
    return caps


def write_math_sample(out_dir: str, seed: int = 0, root: Path = SHARED_MATH) -> list[str]:
    """Write the math pages as two `.warc.gz` files under `out_dir`; none when the shared data is absent."""
    if not (root / "gold.jsonl").exists():
        return []
    caps = _captures(random.Random(seed), shared_math_pages(root))
    out = Path(out_dir)
    return [
        wrap_pages_as_warc([(c["url"], c["payload"]) for c in caps[k::2]], out / name)
        for k, name in enumerate(WARC_NAMES)
    ]


def write_math_sample_evals(eval_dir: str, seed: int = 0, root: Path = SHARED_MATH) -> dict[str, str]:
    """Write the benchmark items the math sample plants (`math500.jsonl`, `math_gsm8k.jsonl`), native formats."""
    if not (root / "gold.jsonl").exists():
        return {}
    out = Path(eval_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for cap in _captures(random.Random(seed), shared_math_pages(root)):
        if "planted" in cap:
            name, text = cap["planted"]
            path = out / ("math500.jsonl" if name == "math500" else "math_gsm8k.jsonl")
            path.write_text(json.dumps({"question": text, "answer": ""}) + "\n", encoding="utf-8")
            paths[name] = str(path)
    return paths
