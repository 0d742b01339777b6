"""The Stack v2's encoded-data patterns, each with a cheap pre-check that is true wherever the pattern can match.

The patterns have no literal prefix, so `re` tries them at every position of every file; on source code
that costs more than the rest of the basic filters together. A pre-check reads the file once as bytes
(`bytes.translate`, `in`, a few numpy passes) and answers "no match possible" for almost every file;
only files it cannot rule out go through the pattern, so the matched characters stay exactly the
pattern's. Each pre-check is keyed by its pattern's exact text: a configured pattern of another text
runs without one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BASE64 = r"[a-zA-Z0-9+/\n=]{64,}"
HEX_LIST = r"(?:\b(?:0x|\\x)?[0-9a-fA-F]{2}(?:,|\b\s*)){8,}"
UNICODE_ESCAPES = r"(?:\\u[0-9a-fA-F]{4}){8,}"
# Encoded-data regexes of The Stack v2 (paper section 2.1): base64, hex byte lists, \u escapes.
ENCODED_PATTERNS = (BASE64, HEX_LIST, UNICODE_ESCAPES)

_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n="
# Every byte of the base64 class becomes "A", every other byte (UTF-8 bytes of non-ASCII characters
# included: the class is ASCII) a space, so a 64-character run of the class is a run of 64 "A"s.
_BASE64_MARK = bytes(ord("A") if b in _BASE64_CHARS else ord(" ") for b in range(256))
_BASE64_RUN = b"A" * 64


def may_hold_base64_run(text: str) -> bool:
    """False only if no 64 characters of the base64 class stand in a row (so `BASE64` cannot match)."""
    return _BASE64_RUN in text.encode("utf-8", "surrogatepass").translate(_BASE64_MARK)


# Byte classes for the hex-list check. A match of HEX_LIST is 8+ units `\b(0x|\x)?HH(,|\b\s*)`: every unit's
# two hex digits HH end a word (a comma or a word boundary follows) and start one or follow "0x"/"\x", and
# everything from the first unit's HH to the eighth's is hex digits, "0x"/"\x" prefixes, commas and
# whitespace. Bytes of non-ASCII characters count as both a separator and a non-word character: the check
# then only finds more candidates than the pattern could, never fewer.
_HEX, _SEP, _WORD = 1, 2, 4
_HEX_CLASS = np.zeros(256, np.uint8)
for _b in range(256):
    _c = chr(_b)
    if _b >= 0x80:
        _HEX_CLASS[_b] = _SEP
        continue
    if _c in "0123456789abcdefABCDEF":
        _HEX_CLASS[_b] |= _HEX | _SEP
    if _c.isalnum() or _c == "_":
        _HEX_CLASS[_b] |= _WORD
    if _c in ",x\\" or _b < 0x20 or _c == " ":  # all ASCII control characters: a superset of \s
        _HEX_CLASS[_b] |= _SEP
_X = ord("x")


def may_hold_hex_list(text: str) -> bool:
    """False only if no eight word-ending hex pairs share one run of hex-list characters (`HEX_LIST` cannot match)."""
    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    if len(data) < 16:
        return False
    cls = _HEX_CLASS[data]
    is_hex = (cls & _HEX).astype(bool)
    is_word = (cls & _WORD).astype(bool)
    # A pair (j-1, j): both hex, the next byte not a word character (or the end), the byte before the pair
    # not a word character (or the start) unless it is the "x" of a prefix.
    pair = is_hex[:-1] & is_hex[1:]
    pair[:-1] &= ~is_word[2:]
    before = np.ones(len(pair), bool)
    before[1:] = ~is_word[:-2] | (data[:-2] == _X)
    ends = np.flatnonzero(pair & before) + 1
    if len(ends) < 8:
        return False
    # Eight consecutive candidates whose stretch (first pair's first digit to the eighth's last) is all separators.
    breaks = np.cumsum(~(cls & _SEP).astype(bool), dtype=np.int64)
    return bool(np.any(breaks[ends[7:]] == breaks[ends[:-7] - 1]))


def may_hold_unicode_escapes(text: str) -> bool:
    """False only if the text has no `\\u` (so `UNICODE_ESCAPES` cannot match)."""
    return "\\u" in text


ENCODED_PRECHECKS: dict[str, Callable[[str], bool]] = {
    BASE64: may_hold_base64_run,
    HEX_LIST: may_hold_hex_list,
    UNICODE_ESCAPES: may_hold_unicode_escapes,
}
