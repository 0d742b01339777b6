"""Cheap pre-checks for the secret scanner's patterns, each true wherever its pattern can match.

detect-secrets' keyword plugins (Cloudant, IBM, SoftLayer) and the Artifactory ones start with lookbehinds or
alternations, so `re` tries them at every position of every file: on source code they cost more than the
rest of the stage together. Each pre-check asks for something every match must hold (a literal, or a run
of the characters the secret value is made of, found by `bytes.translate` and `in`) and skips the pattern
where it is missing. The patterns then run unchanged wherever they could match, so the findings are
exactly theirs. Checks are keyed by the pattern's exact text (a detect-secrets release that changes a
pattern gets no check for it) and run on ASCII text only: there, IGNORECASE is ASCII case folding and
every character class is the ASCII one it spells.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

import xxhash

_CLASSES = {
    "hex": b"0123456789abcdefABCDEF",
    "alpha": b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "alnum": b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "word": b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
}
# Each class's bytes become "A", every other byte a space: a run of n class characters is then "A" * n.
_MARKS = {name: bytes(ord("A") if b in chars else ord(" ") for b in range(256)) for name, chars in _CLASSES.items()}


class AsciiViews:
    """One ASCII text, lower-cased and marked per character class on first use."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def _data(self) -> bytes:
        return self.text.encode("ascii")

    def run(self, kind: str, n: int) -> bool:
        """Whether `n` characters of class `kind` stand in a row."""
        return b"A" * n in self._data.translate(_MARKS[kind])


# Keyed by the xxh64 of the pattern's text (the patterns are long regexes), with the pattern's start beside each.
SCREEN_PRECHECKS: dict[str, Callable[[AsciiViews], bool]] = {
    # ArtifactoryDetector token: its literal: '(?:\\s|=|:|"|^)AKC[a-zA-Z0-9]{10,}(?:\\s|"|$)'...
    "363659b380b69677": lambda v: "AKC" in v.text,
    # ArtifactoryDetector password: its literal: '(?:\\s|=|:|"|^)AP[\\dABCDEF][a-zA-Z0-9]{8,}(?:\\s|"|$'...
    "7b8cab780b6e87a0": lambda v: "AP" in v.text,
    # AWSKeyDetector secret after an aws...key name: 'aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,2'...
    "f1fdc67498d3c775": lambda v: "aws" in v.lower,
    # CloudantDetector key: 64 hex characters: '(?:(?<=\\W)|(?<=^))(?:\\[|)(?:"|\\\'|)(?:cloudant|cl|c'...
    "02b287237be202e9": lambda v: "cl" in v.lower and v.run("hex", 64),
    # CloudantDetector key: 24 letters: '(?:(?<=\\W)|(?<=^))(?:\\[|)(?:"|\\\'|)(?:cloudant|cl|c'...
    "492c3230b43f1a02": lambda v: "cl" in v.lower and v.run("alpha", 24),
    # CloudantDetector URL, hex password: '(?:https?\\:\\/\\/)[\\w\\-]+\\:([0-9a-f]{64})\\@[\\w\\-]+\\.'...
    "ed8e193f9935f906": lambda v: ".cloudant.com" in v.lower,
    # CloudantDetector URL, letter password: '(?:https?\\:\\/\\/)[\\w\\-]+\\:([a-z]{24})\\@[\\w\\-]+\\.clo'...
    "b11bc5f5783fd571": lambda v: ".cloudant.com" in v.lower,
    # DiscordBotTokenDetector: its 27-character last part: '[MNO][a-zA-Z\\d_-]{23,25}\\.[a-zA-Z\\d_-]{6}\\.[a-zA-Z'...
    "02152d3d407ed921": lambda v: v.run("word", 27),
    # IbmCloudIamDetector: 44 characters after a key name: '(?:(?<=\\W)|(?<=^))(?:\\[|)(?:"|\\\'|)(?:ibm(?:_|-|)cl'...
    "e6f57b08783f1721": lambda v: v.run("word", 44) and any(k in v.lower for k in ("key", "pwd", "pass", "token")),
    # IbmCosHmacDetector: 48 hex after secret...key: '(?:(?<=\\W)|(?<=^))(?:\\[|)(?:"|\\\'|)(?:(?:ibm)?[-_]?'...
    "ca0b65df86595fbd": lambda v: "secret" in v.lower and v.run("hex", 48),
    # MailchimpDetector: its -us suffix: '[0-9a-z]{32}-us[0-9]{1,2}'...
    "facfeb5c1862012d": lambda v: "-us" in v.text,
    # SlackDetector token: 'xox(?:a|b|p|o|s|r)-(?:\\d+-)+[a-z0-9]+'...
    "797171071832d47b": lambda v: "xox" in v.lower,
    # SlackDetector webhook: 'https://hooks\\.slack\\.com/services/T[a-zA-Z0-9_]+/'...
    "0108b293f4db433b": lambda v: "hooks.slack.com" in v.lower,
    # SoftlayerDetector key: 64 alphanumerics: '(?:(?<=\\W)|(?<=^))(?:\\[|)(?:"|\\\'|)(?:softlayer|sl)'...
    "1919d6328a08468a": lambda v: ("sl" in v.lower or "softlayer" in v.lower) and v.run("alnum", 64),
    # SoftlayerDetector URL: '(?:http|https)://api.softlayer.com/soap/(?:v3|v3.1'...
    "658ad908d6db7c12": lambda v: "softlayer" in v.lower,
    # StripeDetector: its literal: '(?:r|s)k_live_[0-9a-zA-Z]{24}'...
    "4cdecdb38f8851c1": lambda v: "k_live_" in v.text,
}


def screen_precheck(pattern: str) -> Callable[[AsciiViews], bool] | None:
    """The pre-check for a screen pattern of exactly this text, if there is one."""
    return SCREEN_PRECHECKS.get(xxhash.xxh64_hexdigest(pattern.encode("utf-8")))


# An e-mail match has an "@" after a character of its local part and a dotted domain after it.
_EMAIL_AT = re.compile(r"@[A-Za-z0-9-]+\.[A-Za-z0-9-]")
# An IPv4 match is four groups of digits joined by dots; an IPv6 one has a colon between hex digits or two.
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_IPV6_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]")


def may_hold_email(text: str) -> bool:
    """False only if `secrets.EMAIL` cannot match."""
    for m in _EMAIL_AT.finditer(text):
        before = text[m.start() - 1] if m.start() else ""
        if before and (before.isalnum() or before in "_.%+-"):
            return True
    return False


def may_hold_ipv4(text: str) -> bool:
    """False only if `secrets.IPV4` cannot match."""
    return _IPV4_HINT.search(text) is not None


def may_hold_ipv6(text: str) -> bool:
    """False only if `secrets.IPV6` cannot match."""
    return _IPV6_HINT.search(text) is not None
