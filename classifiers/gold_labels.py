"""Quality labels from an article-extraction benchmark: each page's gold main content is a
positive; its boilerplate (the page text minus the gold lines), the gold text with its words
shuffled, and generated keyword spam are negatives.

Real pages with human-made main-content references are the most honest small quality set
there is: the negatives come from the same sites, so a classifier must learn what article prose
looks like, not which site it came from.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpusforge.classifiers.labels import LabelledText


@dataclass
class GoldPage:
    """One benchmark page: its id, raw HTML and the gold main-content text."""

    id: str
    html: str
    gold: str


def html_text(html: str) -> str:
    """All visible text of a page (boilerplate included), one block per line."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False)


def scrapinghub_pages(root: Path) -> Iterator[GoldPage]:
    """Pages of the scrapinghub article-extraction benchmark (`html/<id>.html.gz`, `ground-truth.json`)."""
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    for pid in sorted(truth):
        path = root / "html" / f"{pid}.html.gz"
        if path.exists():
            html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            yield GoldPage(pid, html, truth[pid]["articleBody"])


def readability_pages(root: Path) -> Iterator[GoldPage]:
    """Pages of Mozilla readability's test set (`<name>/source.html`, `<name>/expected.html`)."""
    for d in sorted(p for p in root.iterdir() if (p / "expected.html").exists()):
        yield GoldPage(
            d.name,
            (d / "source.html").read_text(encoding="utf-8", errors="replace"),
            html_text((d / "expected.html").read_text(encoding="utf-8", errors="replace")),
        )


def boilerplate(page: GoldPage) -> str:
    """The page's text with every line of the gold content removed: menus, footers, teasers."""
    gold_lines = {line.strip() for line in page.gold.splitlines() if line.strip()}
    return "\n".join(
        line for line in html_text(page.html).splitlines() if line.strip() and line.strip() not in gold_lines
    )


def shuffled_words(text: str, rng: random.Random) -> str:
    """The same words in random order: right vocabulary, no language."""
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


_SPAM_PRODUCTS = [
    "cheap watches",
    "replica bags",
    "casino bonus",
    "payday loans",
    "weight loss pills",
    "crypto signals",
    "free followers",
    "discount pharmacy",
    "car insurance quotes",
    "essay writing service",
]
_SPAM_PHRASES = [
    "BEST PRICE GUARANTEED",
    "click here now",
    "limited time offer",
    "buy now and save",
    "100% free",
    "order online today",
    "lowest prices",
    "no credit check",
    "act now",
    "visit our website",
    "top rated",
    "fast shipping worldwide",
    "call now",
    "special discount",
    "!!!",
]


def spam_text(rng: random.Random, words: int = 150) -> str:
    """Keyword-stuffed SEO spam of about `words` words."""
    product = rng.choice(_SPAM_PRODUCTS)
    out: list[str] = []
    while len(out) < words:
        out += (
            f"{product} {rng.choice(_SPAM_PHRASES)} {rng.choice(_SPAM_PRODUCTS)} "
            f"{rng.choice(_SPAM_PHRASES)} www.{product.replace(' ', '')}{rng.randint(1, 99)}.com"
        ).split()
    return " ".join(out)


def gold_labels(pages: Iterator[GoldPage], seed: int = 0, min_chars: int = 200) -> list[LabelledText]:
    """Positives (gold) and negatives (boilerplate, shuffled gold, spam) from benchmark pages."""
    rng = random.Random(seed)
    rows: list[LabelledText] = []
    for page in pages:
        if len(page.gold) < min_chars:
            continue
        rows.append(LabelledText(page.gold, 1.0, f"gold:{page.id}"))
        bp = boilerplate(page)
        if len(bp) >= min_chars:
            rows.append(LabelledText(bp, 0.0, f"boilerplate:{page.id}"))
        rows.append(LabelledText(shuffled_words(page.gold, rng), 0.0, f"shuffled:{page.id}"))
        rows.append(LabelledText(spam_text(rng), 0.0, f"spam:{page.id}"))
    return rows
