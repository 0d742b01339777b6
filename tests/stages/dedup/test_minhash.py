"""MinHash: the vectorised path equals the readable reference, and signatures estimate Jaccard."""

import random
from pathlib import Path

import numpy as np
import pytest
from dedup_eval import chunk_documents, jaccard, near_duplicate, real_texts, shingle_sets

from corpusforge.stages.dedup.minhash import (
    EMPTY,
    MinHashParams,
    band_hashes,
    reference_shingles,
    reference_signature,
    shingle_hashes,
    signatures,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"

ODD_TEXTS = [
    "Hello  World, this is\ta test of the émigré café 123 ünïcode",
    "",
    "   \n\t ",
    "short",
    "a b",
    "Two words here and there. " * 5,
    "x" * 30,
    "日本語のテキスト、テストです。空白なし",
    "Straße İstanbul ΣΊΣΥΦΟΣ — em-dash_underscore_words",
    "line one\n\nline two\r\nline three   ",
]


@pytest.fixture(scope="module")
def articles():
    return chunk_documents(real_texts(DATA))[:40]


@pytest.mark.parametrize("shingle,ngram", [("char", 24), ("char", 5), ("word", 5), ("word", 1), ("code", 5)])
def test_fast_shingles_and_signatures_equal_reference(shingle, ngram, articles):
    texts = ODD_TEXTS + articles[:4]
    hashes, offsets = shingle_hashes(texts, shingle, ngram)
    for i, t in enumerate(texts):
        assert hashes[offsets[i] : offsets[i + 1]].tolist() == reference_shingles(t, shingle, ngram), (i, t[:30])
    params = MinHashParams(shingle, ngram, 24, seed=7)
    sig = signatures(texts, params)
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(sig[i], reference_signature(t, params))


def test_short_and_empty_documents():
    sig = signatures(["", "   ", "tiny"], MinHashParams("char", 24, 16))
    assert (sig[0] == EMPTY).all() and (sig[1] == EMPTY).all()
    assert (sig[2] != EMPTY).all()  # shorter than one shingle: one shingle of everything
    assert len(reference_shingles("tiny", "char", 24)) == 1


def test_signatures_do_not_depend_on_batch_or_order(articles):
    params = MinHashParams("char", 24, 64)
    whole = signatures(articles, params)
    rev = signatures(articles[::-1], params)[::-1]
    one = np.stack([signatures([t], params)[0] for t in articles[:5]])
    np.testing.assert_array_equal(whole, rev)
    np.testing.assert_array_equal(whole[:5], one)
    other_seed = signatures(articles[:3], MinHashParams("char", 24, 64, seed=1))
    assert not (other_seed == whole[:3]).all()


@pytest.mark.parametrize("shingle,ngram", [("char", 24), ("word", 5)])
def test_signature_agreement_estimates_exact_jaccard(shingle, ngram, articles):
    rng = random.Random(3)
    vocab = sorted({w for a in articles for w in a.split()})
    errors = []
    for i, target in enumerate([0.3, 0.5, 0.7, 0.8, 0.9, 0.95] * 3):
        base = articles[i]
        variant, _ = near_duplicate(base, target, shingle, ngram, vocab, rng)
        a, b = shingle_sets([base, variant], shingle, ngram)
        sig = signatures([base, variant], MinHashParams(shingle, ngram, 260))
        errors.append(float((sig[0] == sig[1]).mean()) - jaccard(a, b))
    # 260 hashes: standard error <= 0.031 per pair; the mean over 18 pairs shows any bias
    assert abs(np.mean(errors)) < 0.02
    assert max(abs(e) for e in errors) < 0.12


def test_band_keys_match_exactly_when_band_rows_match():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 1 << 63, size=(3, 20 * 13), dtype=np.uint64)
    sig[1] = sig[0]
    sig[2] = sig[0]
    sig[2, 13 * 5 + 3] += np.uint64(1)  # one row of band 5 differs
    keys = band_hashes(sig, 20, 13)
    assert (keys[0] == keys[1]).all()
    assert (keys[0] == keys[2]).sum() == 19 and keys[0, 5] != keys[2, 5]
