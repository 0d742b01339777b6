"""Gopher quality and repetition rules: each rule fires on a document made to break it."""

import random

import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams

from corpusforge.core.document import Document
from corpusforge.stages.text.gopher import GopherQuality, GopherRepetition, _NGramHashes
from corpusforge.stages.text.words import count_sentences, split_words

PROSE = (
    "The committee met on Tuesday to review the budget for the coming year. Members argued that the plan "
    "had too few details about costs, and that the schedule was not realistic for a small town. After a long "
    "discussion, the chair agreed to publish a revised version with clearer figures before the next meeting. "
    "Residents who attended said they were pleased with the outcome and would return to comment again."
)


def _reject(stage, text: str) -> str | None:
    stage.setup()
    return stage.reject(Document("d", text))


def test_split_words_follows_spacy_boundaries():
    assert split_words("Don't stop-me now!! It's 3.5 or 1,000 at 10:30 e.g. U.S. the end.Next line...") == [
        "Do",
        "n't",
        "stop",
        "-",
        "me",
        "now",
        "!",
        "!",
        "It",
        "'s",
        "3.5",
        "or",
        "1,000",
        "at",
        "10:30",
        "e.g.",
        "U.S.",
        "the",
        "end",
        ".",
        "Next",
        "line",
        "...",
    ]
    assert split_words("Mr. Smith visited http://www.x.com/a-b?c=1 and wrote to foo@bar.com (COVID-19).") == [
        "Mr.",
        "Smith",
        "visited",
        "http://www.x.com/a-b?c=1",
        "and",
        "wrote",
        "to",
        "foo@bar.com",
        "(",
        "COVID-19",
        ")",
        ".",
    ]
    assert count_sentences("Mr. Smith went. He said “hi”. Then I left! Was it? Yes.") == 5


@pytest.mark.parametrize(
    "text,reason",
    [
        ("The cat sat on the mat.", "gopher_short_doc"),
        (
            "to be of it a an is on by at in or if so no do go up we he me " * 5 + "the and",
            "gopher_avg_word_length_low",
        ),
        ("internationalization characteristically telecommunications the and of " * 12, "gopher_avg_word_length_high"),
        (PROSE + " #news #local #budget #town #vote #meeting" * 3, "gopher_hash_ratio"),
        (PROSE + " ... and so on ..." * 8 + " The end.", "gopher_ellipsis_ratio"),
        ("\n".join("- " + s for s in PROSE.split(". ")) * 3, "gopher_bullet_lines"),
        ("\n".join(s + "…" for s in PROSE.split(". ")), "gopher_ellipsis_lines"),
        (
            PROSE + " 10 20 30 40 50 60 70 80 90 100 110 120 130 140 150 160 170 180 190 200 210 220" * 2,
            "gopher_alpha_words",
        ),
        (
            " ".join(
                w for w in PROSE.split() if w.lower() not in {"the", "to", "of", "and", "that", "with", "have", "be"}
            ),
            "gopher_stop_words",
        ),
    ],
)
def test_quality_rule_fires(text, reason):
    assert _reject(GopherQuality(), text) == reason


def test_quality_keeps_prose_and_honours_config():
    assert _reject(GopherQuality(), PROSE) is None
    assert _reject(GopherQuality(max_doc_words=20), PROSE) == "gopher_long_doc"
    assert _reject(GopherQuality(min_doc_words=None, min_stop_words=None), "Cats sat on mats") is None


@pytest.mark.parametrize(
    "text,reason",
    [
        ("\n\n".join([PROSE, "Subscribe now.", "Subscribe now.", "Subscribe now.", "Thanks."]), "gopher_dup_para_frac"),
        ("\n\n".join([PROSE, "Thanks.", "Share.", "Like.", PROSE]), "gopher_dup_para_char_frac"),
        ("\n".join([PROSE, "Share", "Share", "Share", "Tweet", "Tweet"]), "gopher_dup_line_frac"),
        ("\n".join([PROSE, "Tweet", PROSE[:400]]) + "\n" + PROSE[:400], "gopher_dup_line_char_frac"),
        (PROSE + " click here" * 60, "gopher_top_2_gram"),
        (PROSE + " " + " ".join(PROSE.split()[:30]) * 2, "gopher_dup_5_gram"),
        ("", "gopher_empty"),
    ],
)
def test_repetition_rule_fires(text, reason):
    assert _reject(GopherRepetition(), text) == reason


def test_repetition_keeps_prose():
    assert _reject(GopherRepetition(), PROSE) is None


def test_ngram_statistics_match_datatrove_reference():
    # Small vocabularies force many repeats, ties and overlapping jumps.
    rng = random.Random(7)
    for trial in range(200):
        vocab = [f"w{i}" for i in range(rng.randint(2, 12))]
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 120))]
        stats = _NGramHashes(words)
        for n in (2, 3, 4):
            grams = get_n_grams(words, n)
            expected = find_top_duplicate(grams) if grams else 0
            assert stats.top_ngram_chars(n) == expected, (trial, n)
        for n in range(5, 11):
            assert stats.duplicate_ngram_chars(n) == find_all_duplicate(words, n), (trial, n)


def test_filters_balance_their_ledger():
    stage = GopherQuality()
    docs = [Document(str(i), t) for i, t in enumerate([PROSE, "Too short.", PROSE + " extra words here."])]
    kept = list(stage.run(docs))
    assert [d.id for d in kept] == ["0", "2"]
    assert stage.ledger.dropped == {"gopher_short_doc": 1} and stage.ledger.balanced
