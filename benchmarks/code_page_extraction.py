"""Code-page extraction (`extract` with `extractor: code`) against the main-content extraction it wraps.

The code extractor walks the DOM once for `<pre>` and multi-line `<code>` blocks, swaps each for a placeholder,
runs resiliparse's main-content extraction and puts the blocks back. Its floor is that extraction alone on the
same page (`resiliparse_text`, the web lane's extractor): the ratio says what keeping code verbatim costs.
The selector-based extractor it replaced (kept verbatim in `tests/stages/web/test_extract_code.py`) is timed
on the same pages where it finishes in reasonable time, and its output compared.

Pages: every shared real page with a `<pre>` or `<code>` tag (Q&A, API docs, tutorials; one KaTeX docs page
holds a thousand `<code>` tags), and synthetic API-docs pages of growing size (inline, multi-line and
`<pre>` blocks, some in deep `<div>` nests), where a cost that grows faster than the page shows.

    .venv/bin/python benchmarks/code_page_extraction.py   # -> benchmarks/reference/code_page_extraction.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "stages" / "web"))

from test_extract_code import _adversarial_page, _real_code_pages, _selector_based

from corpusforge.stages.web.extract import resiliparse_text
from corpusforge.stages.web.extract_code import code_blocks_verbatim

# The old extractor re-ran its selector per <code> read: past this many tags it takes minutes.
OLD_MAX_CODE_TAGS = 3000


def _cpu(fn, html: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn(html)
        best = min(best, time.process_time() - t0)
    return best


def _row(name: str, html: str) -> dict:
    tags = html.count("<code") + html.count("<pre")
    row = {"page": name, "mb": round(len(html.encode()) / 1e6, 3), "code_and_pre_tags": tags}
    row["code_extractor_s"] = round(_cpu(code_blocks_verbatim, html), 4)
    row["main_content_floor_s"] = round(_cpu(resiliparse_text, html), 4)
    row["vs_floor"] = round(row["code_extractor_s"] / max(row["main_content_floor_s"], 1e-6), 2)
    if tags <= OLD_MAX_CODE_TAGS:
        row["selector_based_s"] = round(_cpu(_selector_based, html, repeat=1), 4)
        row["speedup_vs_selector_based"] = round(row["selector_based_s"] / max(row["code_extractor_s"], 1e-6), 1)
    return row


def main() -> None:
    real = _real_code_pages()
    rows = [_row(name, html) for name, html in real]
    totals = {
        "pages": len(rows),
        "code_extractor_s": round(sum(r["code_extractor_s"] for r in rows), 3),
        "main_content_floor_s": round(sum(r["main_content_floor_s"] for r in rows), 3),
        "selector_based_s": round(sum(r.get("selector_based_s", 0.0) for r in rows), 3),
        "same_output_as_selector_based": sum(
            code_blocks_verbatim(html) == _selector_based(html) for _, html in real if html.count("<code") < 3000
        ),
    }
    totals["vs_floor"] = round(totals["code_extractor_s"] / totals["main_content_floor_s"], 2)
    synthetic = [
        _row(f"synthetic api page x{k}", _adversarial_page(inline=1250 * k, multi_line=500 * k, pre=125 * k))
        for k in (1, 2, 4, 8)
    ]
    out = {"benchmark": "code_page_extraction", "real_pages": totals, "real_page_rows": rows, "synthetic": synthetic}
    text = json.dumps(out, indent=2)
    print(text)
    (ROOT / "benchmarks" / "reference" / "code_page_extraction.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
