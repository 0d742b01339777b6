"""Per-record cost of trafilatura extraction on tiny pages, with and without the once-per-process stoplist.

Tiny pages (one short paragraph) fall through to trafilatura's justext fallback, whose paragraph classifier
lower-cased the all-language stoplist into a new frozenset on every page. Each mode runs in a fresh process
(trafilatura keeps a cross-call dedup cache) over the same pages; the outputs must be identical.

    .venv/bin/python benchmarks/extraction_tiny.py          # -> benchmarks/reference/extraction_tiny.json
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

PAGES = 1500


def _measure(mode: str) -> dict:
    from trafilatura import extract

    from corpusforge.stages.web import extract as stage

    if mode == "once_per_process":
        stage._stoplist_once()
    html = (
        "<html><head><title>t{i}</title></head><body><p>Tiny page number {i} says hello to the world.</p></body></html>"
    )
    pages = [html.format(i=i) for i in range(PAGES)]
    t0 = time.perf_counter()
    out = [
        extract(h, favor_precision=True, include_comments=False, deduplicate=True, include_tables=True) for h in pages
    ]
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16]
    return {"mode": mode, "ms_per_page": round(1e3 * seconds / PAGES, 3), "output_sha256": digest}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(_measure(sys.argv[1])))
        return
    runs = {}
    for mode in ("per_page", "once_per_process"):
        done = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True)
        runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    result = {
        "pages": PAGES,
        "per_page_ms": runs["per_page"]["ms_per_page"],
        "once_per_process_ms": runs["once_per_process"]["ms_per_page"],
        "speedup": round(runs["per_page"]["ms_per_page"] / runs["once_per_process"]["ms_per_page"], 2),
        "same_output": runs["per_page"]["output_sha256"] == runs["once_per_process"]["output_sha256"],
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "reference" / "extraction_tiny.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
