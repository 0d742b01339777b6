"""FineWeb rules: each fires on a page made to break it; good prose passes."""

import pytest

from corpusforge.core.document import Document
from corpusforge.stages.text.fineweb import FineWebQuality

PARAGRAPHS = [
    "The river rose by two metres overnight after heavy rain, and crews closed the old bridge.",
    "Shops near the quay moved their stock to upper floors while volunteers filled sandbags.",
    "The mayor said the town would review its flood defences once the water had receded.",
]


def _reject(text: str, **settings) -> str | None:
    stage = FineWebQuality(**settings)
    stage.setup()
    return stage.reject(Document("d", text))


def test_prose_passes():
    assert _reject("\n".join(PARAGRAPHS)) is None


@pytest.mark.parametrize(
    "text,reason",
    [
        ("\n \n\n", "fineweb_empty"),
        ("\n".join(p.rstrip(".") for p in PARAGRAPHS * 3), "fineweb_line_punct_ratio"),
        (
            "\n".join(PARAGRAPHS + ["Home.", "News.", "Sport.", "Weather.", "Contact.", "About us.", "Jobs."]),
            "fineweb_short_line_ratio",
        ),
        ("\n".join(PARAGRAPHS + [PARAGRAPHS[0]]), "fineweb_char_dup_ratio"),
        # Long, unique, punctuated lines of one or two words each: a link list.
        ("\n".join(f"See https://shop.example.org/catalogue/item-{i}." for i in range(40)), "fineweb_list_ratio"),
    ],
)
def test_rule_fires(text, reason):
    assert _reject(text) == reason


def test_exclude_zero_keeps_pages_without_any_punctuation():
    text = "\n".join(p.rstrip(".") for p in PARAGRAPHS)
    assert _reject(text) == "fineweb_line_punct_ratio"
    assert _reject(text, line_punct_exclude_zero=True) is None
