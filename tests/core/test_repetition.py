"""N-gram repetition statistics against datatrove's Gopher functions (tuples of words, no hashing)."""

from __future__ import annotations

import random

from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams

from corpusforge.core.repetition import NGramHashes


def test_ngram_ids_match_word_tuples_on_long_repetitive_documents():
    """Longer documents than the Gopher test's: runs of copied spans, so repeats reach 5-grams and beyond."""
    rng = random.Random(5)
    for trial in range(60):
        vocab = [f"w{i}" for i in range(rng.randint(2, 40))]
        words: list[str] = []
        while len(words) < rng.randint(50, 1500):
            if words and rng.random() < 0.3:
                start = rng.randrange(len(words))
                words += words[start : start + rng.randint(1, 15)]
            else:
                words.append(rng.choice(vocab))
        stats = NGramHashes(words)
        for n in (1, 2, 3, 4):
            grams = get_n_grams(words, n)
            assert stats.top_ngram_chars(n) == find_top_duplicate(grams), (trial, n)
        for n in range(5, 11):
            dup = find_all_duplicate(words, n)
            assert stats.duplicate_ngram_chars(n) == dup, (trial, n)
            assert stats.covered_chars(5) >= dup, (trial, n)


def test_empty_and_single_word_documents():
    assert NGramHashes([]).top_ngram_chars(2) == 0
    one = NGramHashes(["word"])
    assert one.top_ngram_chars(1) == 4 and one.duplicate_ngram_chars(5) == 0 and one.covered_chars(5) == 0
