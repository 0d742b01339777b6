"""MinHash signatures: shingling and 64-bit min-wise hashing, vectorised over a batch of documents.

Hash definitions (the reference functions at the bottom spell them out one shingle at a time):
- text is lower-cased; `char` shingles run over Unicode code points with whitespace runs folded to
  one space, `word` shingles over words (maximal runs of alphanumeric code points);
- a sequence s_0..s_{n-1} (code points of a shingle, code points of a word, or hashes of the n
  words of a word shingle) hashes to fmix64(sum s_k * B^(n-1-k) mod 2^64): a polynomial hash,
  finished with MurmurHash3's 64-bit mixer so every output bit depends on every input bit;
- a document shorter than one shingle gives one shingle of everything it has, as NeMo Curator's
  char-n-gram MinHash does, so short documents still deduplicate;
- permutation k maps a shingle hash x to a_k * x + b_k mod 2^64 (a_k odd, so a bijection;
  multiply-shift family, Dietzfelbinger et al. 1997), and the signature keeps the minimum.

The fast path gets every window hash of a batch from one prefix sum: with B odd it has an inverse
modulo 2^64, so sum_{k<n} c_{i+k} B^(n-1-k) = B^(i+n-1) * (S[i+n] - S[i]) with S the cumulative
sum of c_j * B^-j. The cost per character is constant whatever the shingle width.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MASK64 = (1 << 64) - 1
BASE = 0x100000001B3  # FNV-1a's 64-bit prime: odd, so invertible modulo 2^64
BASE_INV = pow(BASE, -1, 1 << 64)
EMPTY = np.uint64(MASK64)  # signature value of a document without shingles
# Shingles per block of the permutation loop: 2 x 8 x 16k = 256 KiB of temporaries, cache resident.
BLOCK = 16384
WORD_RE = r"[^\W_]+"  # words: runs of Unicode letters and digits (str.isalnum), lower-cased
# Code tokens: runs of \w (letters, digits and underscore), as BigCode's near-dedup splits content on
# `re.split(r"\W", content.lower())` (bigcode-dataset near_deduplication/bigcode-v2), so `foo_bar` is one token.
CODE_TOKEN_RE = r"\w+"
_TOKEN_RE = {"word": WORD_RE, "code": CODE_TOKEN_RE}


@dataclass(frozen=True)
class MinHashParams:
    """What a signature depends on: shingle kind and width, number of permutations, seed."""

    shingle: Literal["char", "word", "code"] = "char"
    ngram: int = 24
    num_perm: int = 260
    seed: int = 42


# ----------------------------------------------------------------------------- vectorised path


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser over a uint64 array (a new array)."""
    x = x ^ (x >> np.uint64(33))
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) coefficients of the permutation family: deterministic in the seed, a odd."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + rng.integers(
        0, 2, num_perm, dtype=np.uint64
    )
    return a, b


# Positions per piece of the sliding-window pass: bounds the power tables and temporaries.
PIECE = 1 << 20


class _Powers:
    """B^j and B^-j modulo 2^64 for j below a length that grows on demand."""

    def __init__(self) -> None:
        self.pow = np.ones(1, np.uint64)
        self.inv = np.ones(1, np.uint64)

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > len(self.pow):
            size = max(n, 2 * len(self.pow), 1 << 16)
            self.pow = _power_table(BASE, size)
            self.inv = _power_table(BASE_INV, size)
        return self.pow, self.inv


def _power_table(base: int, size: int) -> np.ndarray:
    out = np.full(size, base, np.uint64)
    out[0] = 1
    return np.multiply.accumulate(out)  # wraps modulo 2^64, which is the arithmetic we want


_POWERS = _Powers()


def _sliding(values: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hash of every width-n window of `values` (len - n + 1 of them), in pieces."""
    total = len(values) - n + 1
    out = np.empty(max(total, 0), np.uint64)
    pow_, inv = _POWERS.upto(min(len(values), PIECE + n) + 1)
    for p in range(0, total, PIECE):
        m = min(PIECE, total - p)
        seg = values[p : p + m + n - 1]
        prefix = np.zeros(len(seg) + 1, np.uint64)
        np.cumsum(seg * inv[: len(seg)], out=prefix[1:])
        # window j: B^(j+n-1) * sum_k c_{j+k} B^-(j+k) = sum_k c_{j+k} B^(n-1-k)
        np.multiply(pow_[n - 1 : n - 1 + m], prefix[n : n + m] - prefix[:m], out=out[p : p + m])
    return out


def _segment_hashes(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Polynomial hash of each whole segment [offsets[i], offsets[i+1]) of `values`."""
    pow_, inv = _POWERS.upto(len(values) + 1)
    prefix = np.zeros(len(values) + 1, np.uint64)
    np.cumsum(values * inv[: len(values)], out=prefix[1:])
    ends = offsets[1:]
    # segment [s, e): B^(e-1) * sum c_j B^-j = sum c_j B^(e-1-j); empty segments hash to 0
    return pow_[np.maximum(ends - 1, 0)] * (prefix[ends] - prefix[offsets[:-1]])


def _window_hashes(values: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial hashes of every width-n window inside each document (one window of the whole
    document when it is shorter than n); returns (hashes, per-document offsets into hashes)."""
    values = values.astype(np.uint64, copy=False)
    lengths = np.diff(offsets)
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    out_offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(counts, out=out_offsets[1:])
    if len(values) >= n:
        hashes = _sliding(values, n)
        # A window starting in the last n-1 positions before a document end crosses it.
        crossing = (offsets[1:, None] - np.arange(1, n)[None, :]).ravel()
        valid = np.ones(len(hashes), bool)
        valid[crossing[(crossing >= 0) & (crossing < len(hashes))]] = False
        hashes = hashes[valid]
    else:
        hashes = np.zeros(0, np.uint64)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):
        seg = np.stack([offsets[short], offsets[short + 1]], axis=1).ravel()
        short_hashes = _segment_hashes(values, seg)[0::2]
        hashes = np.insert(hashes, out_offsets[short] - np.arange(len(short)), short_hashes)
    return hashes, out_offsets


@functools.lru_cache(maxsize=2)
def _word_char_table(pattern: str = WORD_RE) -> np.ndarray:
    """Per code point: is it a word character (the reference's regex class, evaluated once)."""
    table = np.zeros(0x110000, bool)
    step = 1 << 16  # a plane at a time: the whole code space as one string costs ~90 MB at peak
    for lo in range(0, 0x110000, step):
        plane = "".join(map(chr, range(lo, lo + step)))
        for m in re.finditer(pattern, plane):
            table[lo + m.start() : lo + m.end()] = True
    return table


def _codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lower-cased code points of a batch, concatenated, and each document's [start, end) offsets."""
    lowered = [t.lower() for t in texts]
    lengths = np.fromiter((len(t) for t in lowered), np.int64, len(lowered))
    offsets = np.zeros(len(lowered) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = "".join(lowered).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(joined, np.uint32), offsets


def shingle_hashes(texts: Sequence[str], shingle: str, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Mixed 64-bit hashes of every shingle of each text, concatenated, with per-text offsets."""
    if shingle == "char":
        # str.split is the whitespace definition the reference uses, and runs in C.
        cps, offsets = _codepoints([" ".join(t.split()) for t in texts])
        hashes, out = _window_hashes(cps, offsets, ngram)
        return fmix64(hashes), out
    if shingle not in _TOKEN_RE:
        raise ValueError(f"shingle: {shingle!r} is not 'char', 'word' or 'code'")
    cps, offsets = _codepoints(texts)
    is_word = _word_char_table(_TOKEN_RE[shingle])[cps]
    # Words are maximal runs of word characters; a document boundary also ends a word.
    before = np.zeros_like(is_word)
    after = np.zeros_like(is_word)
    before[1:] = is_word[:-1]
    after[:-1] = is_word[1:]
    inner_starts = offsets[1:-1][offsets[1:-1] < len(cps)]
    before[inner_starts] = False
    after[inner_starts - 1] = False
    word_start = np.flatnonzero(is_word & ~before)
    word_end = np.flatnonzero(is_word & ~after) + 1
    lengths = word_end - word_start
    packed = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=packed[1:])
    words = _segment_hashes(cps[is_word].astype(np.uint64), packed)
    doc_words = np.searchsorted(word_start, offsets, side="left")
    hashes, out = _window_hashes(fmix64(words), doc_words, ngram)
    return fmix64(hashes), out


def minhash(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """Signatures (docs x num_perm, uint64) from concatenated shingle hashes and per-doc offsets;
    a document without shingles gets the all-ones row EMPTY."""
    a, b = permutations(num_perm, seed)
    n_docs = len(offsets) - 1
    sig = np.full((n_docs, num_perm), EMPTY, np.uint64)
    counts = np.diff(offsets)
    nonempty = np.flatnonzero(counts > 0)
    if len(nonempty) == 0:
        return sig
    # Blocks of whole documents (a document larger than a block is a block of its own).
    doc_starts = offsets[nonempty]
    block_of = doc_starts // BLOCK
    cuts = np.flatnonzero(np.diff(block_of)) + 1
    groups = np.split(np.arange(len(nonempty)), cuts)
    tmp = np.empty(0, np.uint64)
    for group in groups:
        docs = nonempty[group]
        lo, hi = int(offsets[docs[0]]), int(offsets[docs[-1] + 1])
        x = hashes[lo:hi]
        if len(tmp) < len(x):
            tmp = np.empty(len(x), np.uint64)
        t = tmp[: len(x)]
        rel = offsets[docs] - lo
        out = sig[docs]
        for k in range(num_perm):
            np.multiply(x, a[k], out=t)
            np.add(t, b[k], out=t)
            out[:, k] = np.minimum.reduceat(t, rel)
        sig[docs] = out
    return sig


def signatures(texts: Sequence[str], params: MinHashParams) -> np.ndarray:
    """MinHash signatures of a batch of texts (docs x num_perm, uint64)."""
    hashes, offsets = shingle_hashes(texts, params.shingle, params.ngram)
    return minhash(hashes, offsets, params.num_perm, params.seed)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band): a polynomial of the band's rows, mixed (docs x bands)."""
    if sig.shape[1] < bands * rows:
        raise ValueError(f"signature has {sig.shape[1]} hashes, bands x rows needs {bands * rows}")
    keys = np.zeros((sig.shape[0], bands), np.uint64)
    for r in range(rows):
        keys *= np.uint64(BASE)
        keys += sig[:, r : bands * rows : rows]
    return fmix64(keys)


# ----------------------------------------------------------------------------- reference path


def _ref_fmix64(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    return x ^ (x >> 33)


def _ref_poly(values: Sequence[int]) -> int:
    h = 0
    for v in values:
        h = (h * BASE + v) & MASK64
    return h


def reference_shingles(text: str, shingle: str, ngram: int) -> list[int]:
    """Shingle hashes of one text, one shingle at a time: the definition the fast path must match."""
    text = text.lower()
    if shingle == "char":
        units = [ord(c) for c in " ".join(text.split())]
    else:
        units = [_ref_fmix64(_ref_poly([ord(c) for c in w])) for w in re.findall(_TOKEN_RE[shingle], text)]
    if not units:
        return []
    width = min(ngram, len(units))
    return [_ref_fmix64(_ref_poly(units[i : i + width])) for i in range(len(units) - width + 1)]


def reference_signature(text: str, params: MinHashParams) -> np.ndarray:
    """MinHash signature of one text with plain Python integers (slow, readable)."""
    a, b = permutations(params.num_perm, params.seed)
    shingles = reference_shingles(text, params.shingle, params.ngram)
    if not shingles:
        return np.full(params.num_perm, EMPTY, np.uint64)
    sig = [min((int(ak) * x + int(bk)) & MASK64 for x in shingles) for ak, bk in zip(a, b)]
    return np.array(sig, np.uint64)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two shingle-hash multisets taken as sets."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)
