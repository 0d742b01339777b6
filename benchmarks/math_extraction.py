"""Math extraction benchmark: formulas kept, prose quality, invented math and speed, on real pages.

Pages: `<repo>/../shared/data/math` (real pages of each markup kind with the gold formulas their
own markup holds, and pages with no math). Per extractor:
- formula recall per markup kind and overall: share of a page's gold formulas present in the
  text after whitespace normalisation (targets: >= 0.95 overall, no kind under 0.9); peers score
  on TeX that lies in the page text (KaTeX's hidden annotation, undelimited sources), so the share
  present as a whole `$...$` / `$$...$$` formula is given too;
- prose F1: the scrapinghub metric (4-word shingles) of the text with its formulas removed,
  against the page's prose: trafilatura with datatrove's settings (the web lane's extractor) on
  the page with every formula removed (elements, and TeX between the page's delimiters);
- false positives: formulas emitted on the pages without math (target 0; our extractors report them);
- pages per second of CPU time (this process plus waited children, so lynx's subprocesses count),
  against trafilatura and resiliparse on the same pages, and lynx as NeMo Curator runs it.

    .venv/bin/python benchmarks/math_extraction.py        # writes benchmarks/reference/math_extraction.json
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

from corpusforge.samples.math import SHARED_MATH, shared_math_pages
from corpusforge.stages.math.delimiters import DelimiterScanner, ScanEvents, page_delimiters
from corpusforge.stages.math.extract import MathExtractor
from corpusforge.stages.math.prefilter import MathPrefilter
from corpusforge.stages.math.scoring import formulas_delimited, formulas_found, prose_only
from corpusforge.stages.web.extract import extraction_scores, resiliparse_text, trafilatura_extractor

OUT = Path(__file__).resolve().parent / "reference" / "math_extraction.json"
KINDS = ("delim", "script", "katex", "mathml", "img")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def reference_prose(html: str, traf) -> str:
    """The page's prose: trafilatura on the page with formula elements and delimited TeX removed."""
    text = traf(MathExtractor().without_math(html)) or ""
    page = page_delimiters(html)
    if not page.active:
        return text
    out, pos = [], 0
    for f in DelimiterScanner(page, 20_000).scan(text, ScanEvents()):
        out.append(text[pos : f.start])
        pos = f.end
    return "".join(out) + text[pos:]


def extractors() -> dict:
    """Name -> (callable, reports formulas?)."""
    traf = trafilatura_extractor()
    out = {"extract: math": (MathExtractor(), True)}
    if shutil.which("lynx"):
        from corpusforge.stages.math.lynx import LynxRenderer

        out["extract: math, lynx render"] = (MathExtractor(render="lynx"), True)
        out["lynx -dump (NeMo Curator LynxExtractor)"] = (LynxRenderer(), False)
    out["trafilatura, datatrove settings (peer)"] = (traf, False)
    out["resiliparse (peer)"] = (resiliparse_text, False)
    return out


def run() -> dict:
    pages = shared_math_pages()
    htmls = [p["html"].decode("utf-8", "replace") for p in pages]
    traf = trafilatura_extractor()
    refs = [reference_prose(h, traf) for h in htmls]
    prefilter = MathPrefilter()
    prefilter.setup()
    t0 = _cpu()
    decisions = [prefilter.evidence(h) is not None for h in htmls]
    prefilter_s = _cpu() - t0
    results = {
        "pages": len(pages),
        "pages_with_math": sum(p["has_math"] for p in pages),
        "formulas": sum(len(p["formulas"]) for p in pages),
        "formulas_by_kind": {k: sum(len(p["formulas"]) for p in pages if p["kind"] == k) for k in KINDS},
        "prefilter": {
            "math_pages_passed": sum(d for d, p in zip(decisions, pages) if p["has_math"]),
            "non_math_pages_passed": sum(d for d, p in zip(decisions, pages) if not p["has_math"]),
            "pages_per_cpu_s": round(len(pages) / max(prefilter_s, 1e-9), 1),
        },
        "extractors": {},
    }
    for name, (fn, reports) in extractors().items():
        texts, invented = [], 0
        t0 = _cpu()
        for p, html in zip(pages, htmls):
            texts.append(fn(html) or "")
            if reports and not p["has_math"]:
                invented += fn.page_report()[1]["math_formulas"]
        seconds = _cpu() - t0
        found, total, delimited = defaultdict(int), defaultdict(int), 0
        for p, text in zip(pages, texts):
            if p["has_math"]:
                found[p["kind"]] += formulas_found(text, p["formulas"])
                total[p["kind"]] += len(p["formulas"])
                delimited += formulas_delimited(text, p["formulas"])
        prose = extraction_scores((ref, prose_only(t) if reports else t) for ref, t in zip(refs, texts))
        results["extractors"][name] = {
            "formula_recall": round(sum(found.values()) / sum(total.values()), 4),
            "formula_recall_by_kind": {k: round(found[k] / total[k], 4) for k in KINDS if total[k]},
            "formulas_as_dollar_latex": round(delimited / sum(total.values()), 4),
            "prose_f1": round(prose["f1"], 4),
            "prose_precision": round(prose["precision"], 4),
            "prose_recall": round(prose["recall"], 4),
            "formulas_invented_on_pages_without_math": invented if reports else None,
            "pages_per_cpu_s": round(len(pages) / max(seconds, 1e-9), 1),
        }
    return results


def main() -> None:
    if not (SHARED_MATH / "gold.jsonl").exists():
        raise SystemExit(f"no math pages at {SHARED_MATH}")
    results = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    ours = results["extractors"]["extract: math"]
    print(
        f"{'extractor':42s} {'recall':>7s} "
        + " ".join(f"{k:>7s}" for k in KINDS)
        + f" {'as $..$':>8s} {'proseF1':>8s} {'invented':>8s} {'pages/s':>8s}"
    )
    for name, r in results["extractors"].items():
        kinds = " ".join(f"{r['formula_recall_by_kind'].get(k, 0):7.3f}" for k in KINDS)
        inv = (
            "-"
            if r["formulas_invented_on_pages_without_math"] is None
            else str(r["formulas_invented_on_pages_without_math"])
        )
        speed = r["pages_per_cpu_s"] / ours["pages_per_cpu_s"]
        print(
            f"{name:42s} {r['formula_recall']:7.3f} {kinds} {r['formulas_as_dollar_latex']:8.3f} "
            f"{r['prose_f1']:8.3f} {inv:>8s} "
            f"{r['pages_per_cpu_s']:8.1f} ({speed:.2f}x ours)"
        )
    pf = results["prefilter"]
    print(
        f"prefilter: {pf['math_pages_passed']}/{results['pages_with_math']} math pages and "
        f"{pf['non_math_pages_passed']}/{results['pages'] - results['pages_with_math']} others pass, "
        f"{pf['pages_per_cpu_s']} pages/s"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
