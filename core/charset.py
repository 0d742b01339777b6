"""Decoding page bytes to text: BOMs, declared charsets (HTTP header, <meta>), UTF-8 sniffing, cchardet.

Shared by the WARC reader and anything else that holds raw HTML bytes (the block model's training).
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]{2,40})""", re.I)
# WHATWG Encoding Standard: browsers decode these labels as windows-1252, and so do we.
_AS_CP1252 = {"ascii", "latin_1", "iso8859_1"}
_SINGLE_BYTE_PREFIXES = ("cp", "iso8859", "latin", "koi8", "mac", "windows")
# Up to this many bad bytes (or 0.1% of the characters, if more) a page is "UTF-8, slightly broken".
_STRAY_BYTES, _STRAY_FRACTION = 8, 0.001


def _codec(label: str | bytes | None) -> str | None:
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name.replace("-", "_")
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name


def _declared_charset(payload: bytes, content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.I)
    if m and (c := _codec(m.group(1))):
        return c
    meta = _META_CHARSET.search(payload[:4096])
    return _codec(meta.group(1)) if meta else None


def decode_html(
    payload: bytes, content_type: str = "", max_replacement_fraction: float = 0.1
) -> tuple[str | None, str, str]:
    """Decode page bytes: (text or None if not text, charset used, outcome).

    Outcome is "ok", "charset_mislabelled" (declared charset wrong, detected one used),
    "charset_detected" (none declared, detected) or "decoded_with_replacement".
    """
    if payload.startswith(codecs.BOM_UTF8):
        return payload[3:].decode("utf-8", "replace"), "utf_8", "ok"
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return payload.decode("utf-16", "replace"), "utf_16", "ok"
    declared = _declared_charset(payload, content_type)
    if declared:
        try:
            text = payload.decode(declared)
        except (UnicodeDecodeError, LookupError):
            text = None
        if text is not None:
            if declared.startswith(_SINGLE_BYTE_PREFIXES) and not payload.isascii() and _is_utf8(payload):
                # Multi-byte UTF-8 sequences that happen to decode as a single-byte charset are
                # mojibake: the label is wrong, the bytes are UTF-8.
                return payload.decode("utf-8"), "utf_8", "charset_mislabelled"
            return text, declared, "ok"
    if _is_utf8(payload):
        return payload.decode("utf-8"), "utf_8", "ok" if not declared else "charset_mislabelled"
    replaced = payload.decode("utf-8", "replace")
    if replaced.count("\ufffd") <= max(_STRAY_BYTES, _STRAY_FRACTION * len(replaced)):
        # UTF-8 with a few stray bytes: detectors guess wildly on such pages (a mostly-ASCII
        # page with three bad bytes is "cp855" to cchardet); replacing the strays loses less.
        return replaced, "utf_8", "decoded_with_replacement"
    import cchardet

    guess = cchardet.detect(payload[:65536])
    detected = _codec(guess.get("encoding"))
    if detected and (guess.get("confidence") or 0) >= 0.5:
        try:
            return payload.decode(detected), detected, "charset_mislabelled" if declared else "charset_detected"
        except (UnicodeDecodeError, LookupError):
            pass
    if replaced.count("\ufffd") > max_replacement_fraction * max(len(replaced), 1):
        return None, "", "undecodable"
    return replaced, "utf_8", "decoded_with_replacement"


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
