"""Normalised n-gram hashing and the benchmark n-gram index that decontamination scans against.

One normaliser serves both the index and the scan, so a test item is found after any change it
erases: case, whitespace, punctuation, markdown markup, LaTeX commands and HTML entities.
Hashing is vectorised with numpy: the normalised text becomes an array of code points, tokens
are runs of alphanumerics, and token and n-gram hashes are windowed polynomial hashes computed
from prefix sums (mod 2^64), finished with the splitmix64 mixer. Every position of the
normalised text is the position of the same character in the original, so matches map back to
exact character spans for cutting.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Iterable, Literal

import numpy as np

from corpusforge.core import storage

Mode = Literal["word", "char"]

# Bump when normalisation or hashing changes: stored indexes built by another version are rebuilt.
NORMALISER_VERSION = 1

# LaTeX commands (\frac, \times, \text) and HTML entities (&amp;, &#36;) carry no words of the
# item: "\frac{1}{2}" must tokenise like "1/2", "&amp;" like "&".
_MARKUP = re.compile(r"\\[A-Za-z]+|&#?[A-Za-z0-9]+;")

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Odd bases are invertible mod 2^64, which lets a window's hash be read off two prefix sums.
_CHAR_BASE = 0x100000001B3
_TOKEN_BASE = 0x9E3779B97F4A7C15


# Character classes by code point, filled lazily for the characters a worker meets (classifying
# all 1.1M code points up front costs a second per process): -1 unknown, 0 other, 1 alphanumeric
# (Python's str.isalnum, the token characters), 2 whitespace.
_UNKNOWN, _OTHER, _ALNUM, _SPACE_CLASS = -1, 0, 1, 2
_CLASSES = np.full(sys.maxunicode + 1, _UNKNOWN, dtype=np.int8)


def _classify(cps: np.ndarray) -> np.ndarray:
    """The character class of each code point."""
    classes = _CLASSES[cps]
    unknown = classes == _UNKNOWN
    if unknown.any():
        for c in np.unique(cps[unknown]).tolist():
            ch = chr(c)
            _CLASSES[c] = _ALNUM if ch.isalnum() else _SPACE_CLASS if ch.isspace() else _OTHER
        classes = _CLASSES[cps]
    return classes


# Hashes are computed over chunks of at most this many units, so the cached power tables stay
# small (16 MiB each) whatever the document length.
_CHUNK = 1 << 20


class _Powers:
    """Powers of a base and of its inverse mod 2^64 (a worker keeps one table per base)."""

    def __init__(self, base: int):
        self.base = base
        self.inverse = pow(base, -1, 1 << 64)
        self.pow = np.ones(1, dtype=_U64)
        self.inv = np.ones(1, dtype=_U64)

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > _CHUNK:  # one huge token: computed for this call, not cached
            return _power_series(self.base, n), _power_series(self.inverse, n)
        if len(self.pow) < n:
            size = min(max(n, 2 * len(self.pow), 1 << 16), _CHUNK)
            self.pow = _power_series(self.base, size)
            self.inv = _power_series(self.inverse, size)
        return self.pow[:n], self.inv[:n]


def _power_series(base: int, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=_U64)
    out[0] = 1
    return np.cumprod(out, dtype=_U64)  # wraps mod 2^64, as intended


_CHAR_POWERS = _Powers(_CHAR_BASE)
_TOKEN_POWERS = _Powers(_TOKEN_BASE)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _window_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: _Powers) -> np.ndarray:
    """Polynomial hash of values[s:e] for each window (s, e), independent of where it sits.

    Windows come in text order (starts and ends non-decreasing). A window's hash is read off two
    prefix sums and rescaled by the inverse power of its start; because it does not depend on
    the position, prefix sums are taken per chunk of the text and restarted at each chunk.
    """
    out = np.empty(len(starts), dtype=_U64)
    i = 0
    while i < len(starts):
        s0 = int(starts[i])
        j = max(i + 1, int(np.searchsorted(ends, s0 + _CHUNK, "right")))
        local = values[s0:int(ends[j - 1])]
        pw, inv = powers.upto(len(local))
        prefix = np.zeros(len(local) + 1, dtype=_U64)
        np.cumsum(local.astype(_U64) * pw, dtype=_U64, out=prefix[1:])
        a, b = starts[i:j] - s0, ends[i:j] - s0
        out[i:j] = _mix((prefix[b] - prefix[a]) * inv[a])
        i = j
    return out


def _lower_in_place(text: str) -> str:
    # str.lower lengthens one character ('İ' -> 'i̇'); positions must stay the original's, so
    # that character becomes a plain 'i'.
    low = text.lower()
    return low if len(low) == len(text) else text.replace("\u0130", "I").lower()


def normalise(text: str, mode: Mode = "word") -> np.ndarray:
    """The text as code points after normalisation, position for position with the original.

    Word mode: lowercase; LaTeX commands and HTML entities blanked; every non-alphanumeric
    character becomes a separator (0). Char mode (code): lowercase; whitespace becomes a
    separator. This is the one normaliser: the index and the scan both call it.
    """
    low = _lower_in_place(text)
    if mode == "word":
        if "\\" in low or "&" in low:
            low = _MARKUP.sub(lambda m: " " * len(m[0]), low)
    cps = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    classes = _classify(cps)
    cps[classes != _ALNUM if mode == "word" else classes == _SPACE_CLASS] = 0
    return cps


@dataclass
class Grams:
    """The n-gram hashes of a batch of texts and the character span each covers in its text."""

    hashes: np.ndarray  # uint64, one per n-gram, in text order
    doc: np.ndarray  # which text of the batch n-gram i belongs to
    span_start: np.ndarray  # char offset (in its own text) where n-gram i starts
    span_end: np.ndarray  # char offset one past where n-gram i ends
    units: np.ndarray  # per text: tokens (word mode) or non-space characters (char mode)


def ngrams(text: str, n: int, mode: Mode = "word") -> Grams:
    """Hashes of the normalised n-grams of `text` (n words, or n non-space characters)."""
    return ngrams_batch([text], n, mode)


def ngrams_batch(texts: list[str], n: int, mode: Mode = "word") -> Grams:
    """`ngrams` of many texts in one vectorised pass; n-grams never cross from one text to the next.

    Batching pays numpy's per-call overhead once per batch instead of once per document.
    """
    # A newline between texts is a separator in both modes, so no token spans two texts.
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts], out=offsets[1:])
    cps = normalise("\n".join(texts), mode)
    if mode == "word":
        is_tok = cps != 0
        edges = np.diff(is_tok.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        units = _window_hashes(cps, starts, ends, _CHAR_POWERS)
    else:
        starts = np.flatnonzero(cps)
        ends = starts + 1
        units = cps[starts].astype(_U64)
    char_owner = np.repeat(np.arange(len(texts)), np.diff(offsets))
    owner = char_owner[starts]
    per_doc = np.bincount(owner, minlength=len(texts))
    m = len(units)
    if m < n:
        empty = np.zeros(0, dtype=np.int64)
        return Grams(empty.astype(_U64), empty, empty, empty, per_doc)
    first = np.arange(m - n + 1)
    last = first + n - 1
    inside = owner[first] == owner[last]
    first, last = first[inside], last[inside]
    hashes = _window_hashes(units, first, last + 1, _TOKEN_POWERS)
    doc = owner[first]
    base = offsets[doc]
    return Grams(hashes, doc, starts[first] - base, ends[last] - base, per_doc)


@dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes of benchmark items, each paired with the item it comes from."""

    hashes: np.ndarray  # uint64, sorted (a hash shared by k items appears k times)
    items: np.ndarray  # int32 index into `keys`, parallel to `hashes`
    keys: list[str]  # "benchmark/item_id"
    n: int
    mode: Mode
    meta: dict = field(default_factory=dict)

    def lookup(self, grams: np.ndarray) -> np.ndarray:
        """Boolean mask: which of `grams` occur in the index."""
        if len(self.hashes) == 0 or len(grams) == 0:
            return np.zeros(len(grams), dtype=bool)
        pos = np.searchsorted(self.hashes, grams)
        pos[pos == len(self.hashes)] = 0
        return self.hashes[pos] == grams

    def items_of(self, gram: np.uint64) -> np.ndarray:
        lo = np.searchsorted(self.hashes, gram, "left")
        hi = np.searchsorted(self.hashes, gram, "right")
        return self.items[lo:hi]

    def save(self, path: str) -> None:
        """Store as one .npz (written atomically; any fsspec path)."""
        buf = io.BytesIO()
        np.savez(buf, hashes=self.hashes, items=self.items, keys=np.array(self.keys, dtype=str),
                 meta=np.array(json.dumps({**self.meta, "n": self.n, "mode": self.mode})))
        with storage.atomic_write(path, "wb") as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> "BenchmarkIndex":
        with storage.open_file(path, "rb") as f:
            data = np.load(io.BytesIO(f.read()), allow_pickle=False)
            meta = json.loads(str(data["meta"]))
            return cls(data["hashes"], data["items"], data["keys"].tolist(), meta["n"], meta["mode"], meta)


def build_index(items: Iterable[tuple[str, str]], n: int, mode: Mode = "word",
                max_items_per_ngram: int | None = None, meta: dict | None = None) -> BenchmarkIndex:
    """Index (key, text) items: every distinct n-gram of each item, sorted by hash.

    An n-gram shared by more than `max_items_per_ngram` items is a template (instructions,
    boilerplate), not evidence of any one item, so it is left out.
    """
    keys: list[str] = []
    hash_parts: list[np.ndarray] = []
    item_parts: list[np.ndarray] = []
    short = 0
    for key, text in items:
        grams = np.unique(ngrams(text, n, mode).hashes)
        if len(grams) == 0:
            short += 1
        hash_parts.append(grams)
        item_parts.append(np.full(len(grams), len(keys), dtype=np.int32))
        keys.append(key)
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, dtype=_U64)
    owners = np.concatenate(item_parts) if item_parts else np.zeros(0, dtype=np.int32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    dropped = 0
    if max_items_per_ngram and len(hashes):
        uniq, first, counts = np.unique(hashes, return_index=True, return_counts=True)
        frequent = uniq[counts > max_items_per_ngram]
        if len(frequent):
            keep = ~np.isin(hashes, frequent)
            dropped = int(len(frequent))
            hashes, owners = hashes[keep], owners[keep]
    info = {**(meta or {}), "items": len(keys), "ngrams": int(len(hashes)),
            "items_too_short": short, "template_ngrams_dropped": dropped,
            "normaliser_version": NORMALISER_VERSION}
    return BenchmarkIndex(hashes, owners, keys, n, mode, info)


@functools.lru_cache(maxsize=4)
def load_index_cached(path: str) -> BenchmarkIndex:
    """Load an index once per worker process (stages call this from `setup`)."""
    return BenchmarkIndex.load(path)


def digest(obj) -> str:
    """Short stable hash of a JSON-able spec (names stored indexes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
