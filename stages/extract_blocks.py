"""Gold extraction pages (scrapinghub, readability) for evaluation and for training the block model."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class GoldPage:
    """A real page and the human-made reference text of its main content."""

    id: str
    url: str
    html: bytes
    reference: str


def gold_pages(extraction_dir: str | Path, which: str) -> list[GoldPage]:
    """Pages of one gold set: "scrapinghub" or "readability" (readability's reference is HTML, made text)."""
    root = Path(extraction_dir) / which
    if which == "scrapinghub":
        truth = json.loads((root / "ground-truth.json").read_text())
        pages = []
        for key, item in sorted(truth.items()):
            path = root / "html" / f"{key}.html.gz"
            if path.exists():
                pages.append(GoldPage(key, item.get("url") or f"http://scrapinghub.test/{key}",
                                      gzip.decompress(path.read_bytes()), item.get("articleBody", "")))
        return pages
    if which == "readability":
        from resiliparse.extract.html2text import extract_plain_text

        pages = []
        for d in sorted(p for p in root.iterdir() if (p / "source.html").exists() and (p / "expected.html").exists()):
            reference = extract_plain_text((d / "expected.html").read_text("utf-8", "replace"), main_content=False)
            pages.append(GoldPage(d.name, f"http://readability.test/{d.name}", (d / "source.html").read_bytes(), reference))
        return pages
    raise ValueError(f"unknown gold set {which!r}: scrapinghub or readability")
