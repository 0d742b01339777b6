"""Extraction benchmark: quality and speed of each Extract mode against peers, on real gold pages.

Pages come from `<repo>/../shared/data/extraction` (scrapinghub article-extraction-benchmark and
mozilla/readability test pages), wrapped into a WARC and read by WarcReader exactly as a crawl is.
Quality is the scrapinghub benchmark's metric (bags of 4-word shingles; per-page precision and
recall averaged; F1 of the means); `--ngram 1` gives plain bag-of-words token scores. Speed is
pages per second of CPU time of this process (one core), so other load on the machine does not
skew it; datatrove's extractor runs in a child process, so its speed is wall-clock.

    .venv/bin/python benchmarks/extraction.py [--sets scrapinghub readability] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from corpusforge.core.document import Document
from corpusforge.samples.web import wrap_pages_as_warc
from corpusforge.stages.io.warc import WarcReader
from corpusforge.stages.web.extract import Extract, extraction_scores
from corpusforge.stages.web.extract_blocks import gold_pages

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "extraction"
MODES = [
    "trafilatura (raw peer)",
    "datatrove Trafilatura (peer)",
    "extract: trafilatura",
    "extract: resiliparse",
    "extract: blocks",
]


def _read_pages(pages) -> tuple[list[Document], float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = wrap_pages_as_warc([(p.url, p.html) for p in pages], Path(tmp) / "gold.warc.gz")
        reader = WarcReader(paths=[path])
        t0 = time.process_time()
        docs = list(reader.read_counted(path))
        cpu = time.process_time() - t0
    assert len(docs) == len(pages), reader.ledger.to_dict()
    return docs, cpu


def _run_mode(mode: str, docs: list[Document]) -> tuple[dict[str, str], float, bool]:
    """Extracted text per document id, seconds, and whether the seconds are CPU (else wall)."""
    copies = [Document(d.id, d.text, d.source, dict(d.meta)) for d in docs]
    if mode == "trafilatura (raw peer)":
        import trafilatura

        t0 = time.process_time()
        out = {d.id: trafilatura.extract(d.text) or "" for d in copies}
        return out, time.process_time() - t0, True
    if mode == "datatrove Trafilatura (peer)":
        from datatrove.data import Document as DtDocument
        from datatrove.pipeline.extractors import Trafilatura

        dt_docs = [DtDocument(text=d.text, id=d.id) for d in copies]
        t0 = time.perf_counter()
        out = {d.id: d.text for d in Trafilatura(timeout=5).run(iter(dt_docs))}
        return out, time.perf_counter() - t0, False
    stage = Extract(extractor=mode.split(": ")[1])
    t0 = time.process_time()
    out = {d.id: d.text for d in stage.run(copies)}
    return out, time.process_time() - t0, True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["scrapinghub", "readability"])
    ap.add_argument("--modes", nargs="+", default=MODES)
    ap.add_argument("--limit", type=int, default=0, help="pages per set (0: all)")
    ap.add_argument("--ngram", type=int, default=4)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"no gold pages at {DATA}; nothing to measure")
        return 0
    results = []
    for which in args.sets:
        pages = gold_pages(DATA, which)
        if args.limit:
            pages = pages[: args.limit]
        docs, read_cpu = _read_pages(pages)
        print(
            f"\n{which}: {len(pages)} pages, mean {sum(len(p.html) for p in pages) / len(pages) / 1024:.0f} KiB; "
            f"WarcReader {len(pages) / max(read_cpu, 1e-9):.0f} pages/s/core"
        )
        refs = {d.id: p.reference for d, p in zip(docs, pages)}
        for mode in args.modes:
            out, secs, cpu = _run_mode(mode, docs)
            scores = extraction_scores(((refs[i], out.get(i, "")) for i in refs), args.ngram)
            results.append(
                {
                    "set": which,
                    "mode": mode,
                    "pages": len(pages),
                    "kept": len(out),
                    "pages_per_s": len(pages) / max(secs, 1e-9),
                    "cpu_time": cpu,
                    **scores,
                }
            )
        base = next((r for r in results if r["set"] == which and r["mode"] == MODES[0]), None)
        print(f"{'mode':<30} {'pages/s':>8} {'x peer':>7} {'P':>6} {'R':>6} {'F1':>6} {'F1-peer':>8} {'kept':>5}")
        for r in results:
            if r["set"] != which:
                continue
            speed = r["pages_per_s"] / base["pages_per_s"] if base else float("nan")
            df1 = r["f1"] - base["f1"] if base else float("nan")
            clock = "" if r["cpu_time"] else " (wall)"
            print(
                f"{r['mode']:<30} {r['pages_per_s']:>8.1f} {speed:>7.2f} {r['precision']:>6.3f} {r['recall']:>6.3f} "
                f"{r['f1']:>6.3f} {df1:>+8.3f} {r['kept']:>5}{clock}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
