"""Our fast Gopher/C4/FineWeb filters decide like datatrove's spaCy-based ones on real pages."""

import gzip
from pathlib import Path

import pytest
from datatrove.data import Document as DatatroveDocument
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

from corpusforge.core.document import Document
from corpusforge.stages.text.c4 import C4Quality
from corpusforge.stages.text.fineweb import FineWebQuality
from corpusforge.stages.text.gopher import GopherQuality, GopherRepetition

PAGES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "extraction" / "scrapinghub" / "html"
N_PAGES = 90


def _bad_docs() -> list[str]:
    """Synthetic pages of the kinds the heuristics exist to remove, plus borderline ones."""
    prose = (
        "The committee met on Tuesday to review the budget. Members argued that the plan had "
        "too few details about costs and that the schedule was not realistic. "
    )
    return [
        "Buy now! " * 120,
        "Home\nAbout\nContact\nBlog\nShop\nLogin\n" * 10,
        "\n".join(f"- item number {i} in the list" for i in range(80)),
        "\n".join(f"Read more about topic {i}..." for i in range(40)) + "\n" + prose * 3,
        "#tag #love #instagood #photo #follow #happy " * 30,
        "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20,
        prose * 2 + "\nfunction f() { return 1; }\n" + prose,
        (prose + "\n") * 12,
        prose + "\n\n" + "\n\n".join(["Click here to subscribe to our newsletter."] * 8),
        "1234 5678 9012 3456 7890 " * 40 + prose,
        " ".join(["internationalization", "characteristically", "telecommunications"] * 30),
        "x y z a b c d e f g h " * 30,
        prose * 6,
        "\n".join(prose.split(". ")) * 4,
        "Short page.",
        "Ceci est une page en français sur le jardinage et le compost. " * 10,
        "\n".join(["Privacy policy", "Terms of use", "This site uses cookies."] * 5) + "\n" + prose * 4,
        ("A sentence with a citation.[1] Another with an edit mark.[edit] " * 5 + "\n") * 3,
        "word " * 200,
        "\n".join(f"{i}. {prose}" for i in range(6)),
    ]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    trafilatura = pytest.importorskip("trafilatura")
    out = []
    for path in sorted(PAGES.glob("*.html.gz"))[:N_PAGES]:
        text = trafilatura.extract(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        if text:
            out.append(text)
    assert len(out) > 60, "the extraction benchmark pages are missing"
    return out + _bad_docs()


PAIRS = [
    (GopherQuality, GopherQualityFilter),
    (GopherRepetition, GopherRepetitionFilter),
    (C4Quality, C4QualityFilter),
    (FineWebQuality, FineWebQualityFilter),
]


@pytest.mark.parametrize("ours_cls,theirs_cls", PAIRS, ids=[p[0].type for p in PAIRS])
def test_keep_drop_agrees_with_datatrove(texts, ours_cls, theirs_cls):
    ours, theirs = ours_cls(), theirs_cls()
    ours_docs = [Document(str(i), t) for i, t in enumerate(texts)]
    kept_ids = {d.id for d in ours.run(ours_docs)}
    agree = 0
    same_text = both_kept = 0
    for i, text in enumerate(texts):
        ref = DatatroveDocument(text=text, id=str(i))
        ref_keep = theirs.filter(ref) is True
        agree += ref_keep == (str(i) in kept_ids)
        if ref_keep and str(i) in kept_ids:
            both_kept += 1
            same_text += ref.text == ours_docs[i].text
    assert agree / len(texts) >= 0.98, f"{ours_cls.type}: {agree}/{len(texts)} decisions agree"
    # Both drop and keep happen, so the agreement is not trivial.
    assert 0 < len(kept_ids) < len(texts)
    # C4 rewrites the text: kept documents must come out identical.
    assert same_text == both_kept
    assert ours.ledger.balanced
