"""Ground truth for fuzzy dedup: planted near-duplicates of known Jaccard, brute-force exact clusters.

`exact_removed` compares every pair of documents (a sparse document x shingle product, so all
pairs are scored, not only LSH candidates), links pairs at or above the threshold, and removes all
but one per component with the same keep rule as the stage: precision and recall of a dedup run
are measured against that set.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corpusforge.stages.dedup.minhash import shingle_hashes


def shingle_sets(texts: Sequence[str], shingle: str, ngram: int) -> list[np.ndarray]:
    """Unique shingle hashes of each text (the sets exact Jaccard is defined on)."""
    hashes, offsets = shingle_hashes(texts, shingle, ngram)
    return [np.unique(hashes[offsets[i] : offsets[i + 1]]) for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def exact_pairs(texts: Sequence[str], shingle: str, ngram: int, threshold: float) -> list[tuple[int, int, float]]:
    """Every pair (i < j) whose exact Jaccard is at least `threshold` (brute force over all pairs)."""
    from scipy import sparse

    sets = shingle_sets(texts, shingle, ngram)
    vocab, inverse = np.unique(np.concatenate(sets) if sets else np.zeros(0, np.uint64), return_inverse=True)
    sizes = np.array([len(s) for s in sets])
    rows = np.repeat(np.arange(len(sets)), sizes)
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, inverse)), shape=(len(sets), len(vocab)))
    inter = sparse.triu(m @ m.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    j = inter.data / np.maximum(union, 1)
    keep = j >= threshold
    return [(int(a), int(b), float(x)) for a, b, x in zip(inter.row[keep], inter.col[keep], j[keep])]


def exact_removed(
    texts: Sequence[str], shingle: str, ngram: int, threshold: float, rank: Sequence[float] | None = None
) -> set[int]:
    """Indices brute force removes: all but the best (rank, then index) of each exact component."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    pairs = exact_pairs(texts, shingle, ngram, threshold)
    n = len(texts)
    if not pairs:
        return set()
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    rank = np.zeros(n) if rank is None else np.asarray(rank, float)
    order = np.lexsort((np.arange(n), rank, labels))
    sizes = np.bincount(labels)
    removed, seen = set(), set()
    for i in order:
        if sizes[labels[i]] < 2:
            continue
        if labels[i] in seen:
            removed.add(int(i))
        else:
            seen.add(labels[i])
    return removed


def precision_recall(removed: set, truth: set) -> tuple[float, float]:
    """Precision and recall of a removed set against the brute-force one (1.0 when both empty)."""
    hit = len(removed & truth)
    precision = hit / len(removed) if removed else 1.0
    recall = hit / len(truth) if truth else 1.0
    return precision, recall


# ----------------------------------------------------------------------------- planted corpus


def real_texts(data_dir: str | Path) -> list[str]:
    """Article texts from the evaluation data (scrapinghub ground truth, readability expected pages)."""
    data_dir = Path(data_dir)
    out = []
    gt = data_dir / "extraction" / "scrapinghub" / "ground-truth.json"
    if gt.exists():
        out += [v["articleBody"] for v in json.loads(gt.read_text()).values() if v.get("articleBody")]
    for page in sorted((data_dir / "extraction" / "readability").glob("*/expected.html")):
        text = re.sub(r"<[^>]+>", " ", page.read_text(errors="replace"))
        text = re.sub(r"\s+", " ", text).strip()
        if len(text.split()) > 50:
            out.append(text)
    return out


def chunk_documents(texts: Sequence[str], words: int = 300) -> list[str]:
    """Split texts into documents of about `words` words (the last piece of a text if long enough)."""
    docs = []
    for t in texts:
        w = t.split()
        for s in range(0, len(w), words):
            piece = w[s : s + words]
            if len(piece) >= words // 3:
                docs.append(" ".join(piece))
    return docs


def article_sentences(texts: Sequence[str]) -> list[str]:
    """Sentences of 4 to 80 words from real texts: the material of `mixed_document` (longer
    "sentences" are unpunctuated lists or tables, and one would be most of a document)."""
    return [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if 4 <= len(s.split()) <= 80]


def mixed_document(sentences: Sequence[str], index: int, words: int = 300, seed: int = 0) -> str:
    """Document number `index` of an endless corpus of real sentences drawn at random: any one
    can be rebuilt from its index, so a large corpus is generated shard by shard."""
    rng = random.Random(seed * 1_000_003 + index)
    out, count = [], 0
    while count < words:
        s = sentences[rng.randrange(len(sentences))]
        out.append(s)
        count += len(s.split())
    return " ".join(out)


def mixed_documents(texts: Sequence[str], n: int, words: int = 300, seed: int = 0) -> list[str]:
    """`n` distinct documents of real sentences drawn at random (for corpora larger than the data)."""
    sentences = article_sentences(texts)
    return [mixed_document(sentences, i, words, seed) for i in range(n)]


def random_edits(n_words: int, count: int, vocab: Sequence[str], rng: random.Random) -> list[tuple[int, str, str]]:
    """`count` word edits (position, sub/del/ins, word) for a text of `n_words` words."""
    edits = []
    for _ in range(count):
        kind = rng.random()
        edits.append(
            (
                rng.randrange(n_words),
                "sub" if kind < 0.6 else "del" if kind < 0.8 else "ins",
                vocab[rng.randrange(len(vocab))],
            )
        )
    return edits


def apply_edits(words: Sequence[str], edits: Sequence[tuple[int, str, str]]) -> str:
    """The text of `words` after the edits, in order (positions past the end hit the last word)."""
    w = list(words)
    for pos, kind, word in edits:
        pos = min(pos, len(w) - 1)
        if kind == "sub":
            w[pos] = word
        elif kind == "del" and len(w) > 1:
            del w[pos]
        else:
            w.insert(pos, word)
    return " ".join(w)


def near_duplicate(
    text: str, target: float, shingle: str, ngram: int, vocab: Sequence[str], rng: random.Random
) -> tuple[str, float]:
    """A variant of `text` whose exact Jaccard with it is close to `target` (word edits, bisected)."""
    words = text.split()
    base = shingle_sets([text], shingle, ngram)[0]
    edits = random_edits(len(words), len(words), vocab, rng)

    def variant(k: int) -> str:
        return apply_edits(words, edits[:k])

    if target >= 1.0:
        return text, 1.0
    lo, hi = 0, len(edits)
    while lo < hi:  # smallest k whose Jaccard is at most the target
        mid = (lo + hi) // 2
        if jaccard(base, shingle_sets([variant(mid)], shingle, ngram)[0]) > target:
            lo = mid + 1
        else:
            hi = mid
    candidates = [k for k in (lo - 1, lo) if 0 <= k <= len(edits)]
    scored = [(abs(jaccard(base, shingle_sets([variant(k)], shingle, ngram)[0]) - target), k) for k in candidates]
    k = min(scored)[1]
    out = variant(k)
    return out, jaccard(base, shingle_sets([out], shingle, ngram)[0])


def near_duplicate_corpus(
    sentences: Sequence[str],
    start: int,
    stop: int,
    dup_fraction: float = 0.1,
    max_edits: int = 12,
    words: int = 300,
    seed: int = 0,
) -> list[str]:
    """Documents `start..stop-1` of a corpus where a `dup_fraction` of documents are copies of an
    earlier document with 0..`max_edits` random word edits (exact copies included); the rest are
    `mixed_document`s. Any slice can be generated alone, so shards need no shared state."""
    vocab = sorted({w for s in sentences[:2000] for w in s.split()})
    out = []
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i + (1 << 40))
        if i == 0 or rng.random() >= dup_fraction:
            out.append(mixed_document(sentences, i, words, seed))
            continue
        base = rng.randrange(i)
        while base > 0 and random.Random(seed * 1_000_003 + base + (1 << 40)).random() < dup_fraction:
            base = rng.randrange(base)  # copy an original, so chains of copies stay shallow
        words_ = mixed_document(sentences, base, words, seed).split()
        out.append(apply_edits(words_, random_edits(len(words_), rng.randint(0, max_edits), vocab, rng)))
    return out


def planted_corpus(
    data_dir: str | Path, shingle: str, ngram: int, targets: Sequence[float], n_base: int | None = None, seed: int = 0
) -> tuple[list[str], list[tuple[int, int, float]]]:
    """Real documents plus one planted variant per entry of `targets` (each of a random base);
    returns the texts and the planted (base index, variant index, exact Jaccard) triples."""
    rng = random.Random(seed)
    docs = chunk_documents(real_texts(data_dir))
    if n_base is not None:
        docs = docs[:n_base]
    vocab = sorted({w for d in docs for w in d.split()})
    planted = []
    out = list(docs)
    for t in targets:
        b = rng.randrange(len(docs))
        text, j = near_duplicate(docs[b], t, shingle, ngram, vocab, rng)
        planted.append((b, len(out), j))
        out.append(text)
    return out, planted
