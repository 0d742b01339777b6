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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from corpusforge.core import storage
from corpusforge.core.greek import GREEK_LETTERS

# word: prose (GPT-3's 13-grams); char: code, whitespace-insensitive; math: word with LaTeX read
# the way a reader sees it (see `_math_markup`), so a leaked problem typeset differently is found.
Mode = Literal["word", "char", "math"]

# Bump when normalisation or hashing changes: stored indexes built by another version are rebuilt.
NORMALISER_VERSION = 1

_U64 = np.uint64
# Odd bases are invertible mod 2^64, which lets a window's hash be read off two prefix sums.
_CHAR_BASE = 0x100000001B3
_TOKEN_BASE = 0x9E3779B97F4A7C15


# Per code point, filled lazily for the characters a worker meets (classifying all 1.1M code
# points up front costs seconds per process): the class (-1 unknown, 0 other, 1 alphanumeric as
# Python's str.isalnum, 2 whitespace) and the lowercase code point. Lowercasing by table keeps
# every position the original's ('İ', whose lowercase is two characters, maps to 'i').
_UNKNOWN, _OTHER, _ALNUM, _SPACE_CLASS = -1, 0, 1, 2
_CLASSES = np.full(sys.maxunicode + 1, _UNKNOWN, dtype=np.int8)
_LOWER = np.arange(sys.maxunicode + 1, dtype=np.uint32)


def _learn(codepoints: Iterable[int]) -> None:
    for c in codepoints:
        ch = chr(c)
        low = ch.lower()
        lc = ord(low) if len(low) == 1 else ord(low[0])
        _LOWER[c] = lc
        _CLASSES[c] = _ALNUM if ch.isalnum() else _SPACE_CLASS if ch.isspace() else _OTHER
        if _CLASSES[lc] == _UNKNOWN:
            _learn([lc])


def _lower_and_classify(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowercased code points, and masks of alphanumeric and of whitespace characters.

    ASCII is done with arithmetic (table gathers over millions of characters are the slow
    part); only the non-ASCII characters go through the lazily filled tables.
    """
    upper = (cps >= 65) & (cps <= 90)
    low = cps | (upper.view(np.uint8).astype(np.uint32) << 5)
    alnum = ((low >= 97) & (low <= 122)) | ((cps >= 48) & (cps <= 57))
    space = (cps == 32) | ((cps >= 9) & (cps <= 13)) | ((cps >= 28) & (cps <= 31))
    wide = np.flatnonzero(cps >= 128)
    if len(wide):
        w = cps[wide]
        if (_CLASSES[w] == _UNKNOWN).any():
            _learn(np.unique(w[_CLASSES[w] == _UNKNOWN]).tolist())
        low[wide] = _LOWER[w]
        cls = _CLASSES[w]
        alnum[wide] = cls == _ALNUM
        space[wide] = cls == _SPACE_CLASS
    return low, alnum, space


# LaTeX commands (\frac, \times, \text) and HTML entities (&amp;, &#36;) carry no words of the
# item: "\frac{1}{2}" must tokenise like "1/2", "&amp;" like "&".
_MARKUP = re.compile(r"\\[A-Za-z]+|&#?[A-Za-z0-9]+;")


def _blank_markup(text: str, cps: np.ndarray, sep: np.ndarray) -> None:
    """Mark LaTeX command names and HTML entities as separators (matched only where one can start)."""
    for p in np.flatnonzero((cps == 92) | (cps == 38)).tolist():
        m = _MARKUP.match(text, p)
        if m is not None:
            sep[p : m.end()] = True


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
        local = values[s0 : int(ends[j - 1])]
        pw, inv = powers.upto(len(local))
        prefix = np.zeros(len(local) + 1, dtype=_U64)
        np.cumsum(local.astype(_U64) * pw, dtype=_U64, out=prefix[1:])
        a, b = starts[i:j] - s0, ends[i:j] - s0
        out[i:j] = _mix((prefix[b] - prefix[a]) * inv[a])
        i = j
    return out


# Math mode: commands that name functions keep their name as a word (\sin x reads "sin x", as
# MathML or a plain-text copy writes it); Greek letter commands become the letter (\pi and π are
# one token); \frac12 is "1 2" like \frac{1}{2}; everything else of a command is blanked, so
# \dfrac/\frac, \left(/(, \, and \quad spacing never split or hide an n-gram.
_MATH_FUNCTIONS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "log",
        "ln",
        "lg",
        "exp",
        "lim",
        "max",
        "min",
        "sup",
        "inf",
        "det",
        "gcd",
        "lcm",
        "mod",
        "bmod",
        "pmod",
        "deg",
        "dim",
        "ker",
        "arg",
    ]
)
_GREEK = {name: chr(0x03B1 + i) for i, name in enumerate(GREEK_LETTERS)}
_GREEK.update({"varepsilon": "ε", "vartheta": "θ", "varphi": "φ", "varpi": "π", "varrho": "ρ"})
_FRACS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})
_SCRIPT_DIGITS = {ord(c): ord(d) for c, d in zip("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉", "01234567890123456789")}


def _math_markup(text: str, cps: np.ndarray, low: np.ndarray, sep: np.ndarray) -> np.ndarray:
    """Math-mode rewrite of LaTeX commands and script digits, in place and position for position.

    Returns a mask of token boundaries inside runs of word characters: a digit next to a letter
    ("2x", "x2") and a superscript or subscript digit ("x²" reads like "x^2") start a new token.
    """
    for p in np.flatnonzero((cps == 92) | (cps == 38)).tolist():
        m = _MARKUP.match(text, p)
        if m is None:
            continue
        name = m.group(0)[1:]
        sep[p : m.end()] = True
        if m.group(0)[0] != "\\":
            continue
        if name in _MATH_FUNCTIONS:
            sep[p + 1 : m.end()] = False
        elif name.lower() in _GREEK:
            low[p], sep[p] = ord(_GREEK[name.lower()]), False
        elif name in _FRACS and text[m.end() : m.end() + 2].isdigit() and text[m.end() : m.end() + 2].isascii():
            low[p], sep[p] = ord(text[m.end()]), False  # \frac12: "1" where the command was, "2" stays
            sep[m.end()] = True
    script = np.isin(cps, np.fromiter(_SCRIPT_DIGITS, dtype=np.uint32))
    if script.any():
        idx = np.flatnonzero(script)
        low[idx] = np.fromiter((_SCRIPT_DIGITS[int(c)] for c in cps[idx]), dtype=np.uint32, count=len(idx))
        sep[idx] = False
    digit = (low >= 48) & (low <= 57)
    boundary = np.zeros(len(cps), dtype=bool)
    boundary[1:] = (digit[1:] != digit[:-1]) | (script[1:] != script[:-1])
    return boundary


def _normalise(text: str, mode: Mode) -> tuple[np.ndarray, np.ndarray | None]:
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    low, alnum, space = _lower_and_classify(cps)
    boundary = None
    if mode == "word":
        sep = ~alnum
        _blank_markup(text, cps, sep)
    elif mode == "math":
        sep = ~alnum
        boundary = _math_markup(text, cps, low, sep)
    else:
        sep = space
    low[sep] = 0
    return low, boundary


def normalise(text: str, mode: Mode = "word") -> np.ndarray:
    """The text as code points after normalisation, position for position with the original.

    Word mode: lowercase; LaTeX command names and HTML entities blanked; every non-alphanumeric
    character becomes a separator (0). Math mode: word mode with LaTeX read as math (see
    `_math_markup`). Char mode (code): lowercase; whitespace becomes a separator. This is the one
    normaliser: the index and the scan both call it.
    """
    return _normalise(text, mode)[0]


@dataclass
class Grams:
    """The n-gram hashes of a batch of texts and the character span each covers in its text."""

    hashes: np.ndarray  # uint64, one per n-gram, in text order
    doc: np.ndarray  # which text of the batch n-gram i belongs to
    span_start: np.ndarray  # char offset (in its own text) where n-gram i starts
    span_end: np.ndarray  # char offset one past where n-gram i ends
    first_unit: np.ndarray  # index (in its own text) of n-gram i's first token / character
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
    cps, boundary = _normalise("\n".join(texts), mode)
    if mode in ("word", "math"):
        is_tok = cps != 0
        if boundary is None:
            edges = np.diff(is_tok.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
            starts = np.flatnonzero(edges == 1)
            ends = np.flatnonzero(edges == -1)
        else:
            prev = np.concatenate(([False], is_tok[:-1]))
            nxt = np.concatenate((is_tok[1:], [False]))
            after = np.concatenate((boundary[1:], [False]))
            starts = np.flatnonzero(is_tok & (~prev | boundary))
            ends = np.flatnonzero(is_tok & (~nxt | after)) + 1
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
        return Grams(empty.astype(_U64), empty, empty, empty, empty, per_doc)
    first = np.arange(m - n + 1)
    last = first + n - 1
    inside = owner[first] == owner[last]
    first, last = first[inside], last[inside]
    hashes = _window_hashes(units, first, last + 1, _TOKEN_POWERS)
    doc = owner[first]
    base = offsets[doc]
    unit_base = np.concatenate(([0], np.cumsum(per_doc)[:-1]))
    return Grams(hashes, doc, starts[first] - base, ends[last] - base, first - unit_base[doc], per_doc)


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
        """Boolean mask: which of `grams` occur in the index.

        A bitmap of the hashes' top bits (about 16 bits per indexed n-gram, so ~94% of absent
        n-grams stop at one memory access) screens the queries; only the survivors are
        binary-searched in the sorted hashes.
        """
        if len(self.hashes) == 0 or len(grams) == 0:
            return np.zeros(len(grams), dtype=bool)
        bits, shift = self._bitmap()
        slot = grams >> shift
        maybe = np.flatnonzero((bits[slot >> _U64(3)] >> (slot & _U64(7)).astype(np.uint8)) & 1)
        out = np.zeros(len(grams), dtype=bool)
        if len(maybe):
            q = grams[maybe]
            pos = np.searchsorted(self.hashes, q)
            pos[pos == len(self.hashes)] = 0
            out[maybe] = self.hashes[pos] == q
        return out

    def _bitmap(self) -> tuple[np.ndarray, np.uint64]:
        if getattr(self, "_bits", None) is None:
            k = int(min(max(np.ceil(np.log2(len(self.hashes) * 16)), 16), 32))
            shift = _U64(64 - k)
            slot = self.hashes >> shift
            bits = np.zeros(1 << (k - 3), dtype=np.uint8)
            np.bitwise_or.at(bits, slot >> _U64(3), (np.uint8(1) << (slot & _U64(7)).astype(np.uint8)))
            self._bits, self._shift = bits, shift
        return self._bits, self._shift

    def save(self, path: str) -> None:
        """Store as one .npz (written atomically; any fsspec path)."""
        buf = io.BytesIO()
        np.savez(
            buf,
            hashes=self.hashes,
            items=self.items,
            keys=np.array(self.keys, dtype=str),
            meta=np.array(json.dumps({**self.meta, "n": self.n, "mode": self.mode})),
        )
        with storage.atomic_write(path, "wb") as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> BenchmarkIndex:
        with storage.open_file(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            meta = json.loads(str(data["meta"]))
            return cls(data["hashes"], data["items"], data["keys"].tolist(), meta["n"], meta["mode"], meta)


def read_index_meta(path: str) -> dict | None:
    """The metadata of a stored index (reads only that member), or None if there is none."""
    if not storage.exists(path):
        return None
    try:
        with storage.open_file(path, "rb") as f:
            return json.loads(str(np.load(f, allow_pickle=False)["meta"]))
    except (OSError, ValueError, KeyError):
        return None


def build_index(
    items: Iterable[tuple[str, str]],
    n: int,
    mode: Mode = "word",
    max_items_per_ngram: int | None = None,
    meta: dict | None = None,
) -> BenchmarkIndex:
    """Index (key, text) items: every distinct n-gram of each item, sorted by hash.

    An n-gram shared by more than `max_items_per_ngram` items is a template (instructions,
    boilerplate), not evidence of any one item, so it is left out.
    """
    keys: list[str] = []
    hash_parts: list[np.ndarray] = []
    item_parts: list[np.ndarray] = []
    short = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal short
        grams = ngrams_batch(batch, n, mode)
        hash_parts.append(grams.hashes)
        item_parts.append(grams.doc.astype(np.int32) + np.int32(len(keys) - len(batch)))
        short += int((grams.units < n).sum())
        batch.clear()

    size = 0
    for key, text in items:
        keys.append(key)
        batch.append(text)
        size += len(text)
        if size >= _CHUNK:
            flush()
            size = 0
    if batch:
        flush()
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, dtype=_U64)
    owners = np.concatenate(item_parts) if item_parts else np.zeros(0, dtype=np.int32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    # each (n-gram, item) pair once: an item repeating a phrase is still one item
    if len(hashes):
        distinct = np.ones(len(hashes), dtype=bool)
        distinct[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
        hashes, owners = hashes[distinct], owners[distinct]
    dropped = 0
    if max_items_per_ngram and len(hashes):
        uniq, counts = np.unique(hashes, return_counts=True)
        frequent = uniq[counts > max_items_per_ngram]
        if len(frequent):
            keep = ~np.isin(hashes, frequent)
            dropped = int(len(frequent))
            hashes, owners = hashes[keep], owners[keep]
    info = {
        **(meta or {}),
        "items": len(keys),
        "ngrams": int(len(hashes)),
        "items_too_short": short,
        "template_ngrams_dropped": dropped,
        "normaliser_version": NORMALISER_VERSION,
    }
    return BenchmarkIndex(hashes, owners, keys, n, mode, info)


def load_index_cached(path: str) -> BenchmarkIndex:
    """Load an index once per worker process (stages call this from `setup`).

    The cache key includes the file's size and modification stamp, so an index rebuilt at the
    same path is not served stale.
    """
    fs, p = storage.filesystem(path)
    info = fs.info(p)
    stamp = (info.get("size"), str(info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""))
    return _load_cached(path, stamp)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, stamp: tuple) -> BenchmarkIndex:
    return BenchmarkIndex.load(path)


def digest(obj) -> str:
    """Short stable hash of a JSON-able spec (names stored indexes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
