"""C4 rules: unwanted lines are removed from the text, bad pages are dropped, and every removal is counted."""

import pytest

from corpusforge.core.document import Document
from corpusforge.stages.text.c4 import C4Quality

GOOD = [
    "The river rose by two metres overnight after heavy rain.",
    "Emergency crews closed the old bridge as a precaution.",
    "Shops near the quay moved their stock to upper floors.",
    "The mayor said the town would review its flood defences.",
    "Forecasters expect the water to fall by the weekend!",
]


def _run(text: str, **settings) -> tuple[Document | None, C4Quality]:
    stage = C4Quality(**settings)
    out = list(stage.run([Document("d", text)]))
    assert stage.ledger.balanced
    return (out[0] if out else None), stage


def test_unwanted_lines_are_removed_and_counted():
    text = "\n".join(
        [
            "Home | News | Sport",  # no terminal punctuation
            GOOD[0],
            "Please enable JavaScript to view this page.",
            GOOD[1] + "[1]",  # citation marker removed, then it ends with '.'
            "This site uses cookies.",
            "Yes.",  # fewer than 3 words
            GOOD[2],
            "Read more...",  # ellipsis is not terminal punctuation
            "   " + GOOD[3] + "   ",
            GOOD[4],
            "x" * 1001 + " is a long word.",
        ]
    )
    doc, stage = _run(text)
    assert doc is not None
    assert doc.text.split("\n") == GOOD
    extra = stage.ledger.extra
    assert extra["lines_removed_no_terminal_punct"] == 2
    assert extra["lines_removed_javascript"] == 1
    assert extra["lines_removed_policy"] == 1
    assert extra["lines_removed_too_few_words"] == 1
    assert extra["lines_removed_too_long_word"] == 1


@pytest.mark.parametrize(
    "lines,reason",
    [
        (GOOD + ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."], "c4_lorem_ipsum"),
        (GOOD + ['The config is {"a": 1} in this example.'], "c4_curly_bracket"),
        (GOOD[:3] + ["Menu", "Contact us"], "c4_too_few_sentences"),
    ],
)
def test_page_rules_drop(lines, reason):
    doc, stage = _run("\n".join(lines))
    assert doc is None
    assert stage.ledger.dropped == {reason: 1}


def test_sentences_are_counted_inside_lines():
    # Two lines, five sentences in all: kept (C4 counts sentences, not lines).
    text = " ".join(GOOD[:3]) + "\n" + " ".join(GOOD[3:])
    doc, _ = _run(text)
    assert doc is not None and doc.text == text
    # Abbreviations do not end sentences, so this page has four.
    text = "Mr. Smith went to Washington. Dr. Jones stayed home. It rained all day. The end."
    assert _run(text)[0] is None


def test_rules_can_be_switched_off():
    text = "\n".join(GOOD + ["No punctuation here", "Enable javascript please."])
    doc, _ = _run(text, filter_no_terminal_punct=False, filter_javascript=False, min_num_sentences=-1)
    assert doc is not None and "No punctuation here" in doc.text and "javascript" in doc.text
