"""Secrets and PII in code: StarCoder's regex path, with detect-secrets and its replacements.

Keys: detect-secrets with the plugin list of bigcode-dataset `pii/utils/keys_detection.py` (Keyword,
BasicAuth and PrivateKey off there) and its filters (UUIDs, ID strings, templated and sequential
strings), plus its gibberish check (a value must look random). Hash-like values (32, 40 or 64
characters) on lines that mention sha/md5/hash/byte, or in files where more than 2% of lines do,
are left alone (bigcode's false-positive rule). detect-secrets' PrivateKeyDetector only flags the
BEGIN line, so whole private-key blocks are found by their armour and their body replaced.
E-mails and IP addresses: BigScience-style regexes; private IPs and popular DNS servers stay.
Replacements (bigcode `replacements.json` style): keys become random alphanumerics of the same
length class, e-mails five random letters at example.com, IPs one of five private addresses. The
random values are drawn from a generator seeded by the document id and the value, so a rerun and
every engine write the same bytes.
"""

from __future__ import annotations

import bisect
import ipaddress
import random
import re
import string
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from typing import Any

import xxhash
from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig
from corpusforge.stages.code.secret_prechecks import (
    AsciiViews,
    may_hold_email,
    may_hold_ipv4,
    may_hold_ipv6,
    screen_precheck,
)

# bigcode-dataset pii/utils/keys_detection.py
STARCODER_PLUGINS: list[dict[str, Any]] = [
    {"name": "ArtifactoryDetector"},
    {"name": "AWSKeyDetector"},
    {"name": "Base64HighEntropyString", "limit": 4.5},
    {"name": "HexHighEntropyString", "limit": 3.0},
    {"name": "AzureStorageKeyDetector"},
    {"name": "CloudantDetector"},
    {"name": "DiscordBotTokenDetector"},
    {"name": "GitHubTokenDetector"},
    {"name": "IbmCloudIamDetector"},
    {"name": "IbmCosHmacDetector"},
    {"name": "JwtTokenDetector"},
    {"name": "MailchimpDetector"},
    {"name": "NpmDetector"},
    {"name": "SendGridDetector"},
    {"name": "SlackDetector"},
    {"name": "SoftlayerDetector"},
    {"name": "StripeDetector"},
    {"name": "TwilioKeyDetector"},
]
STARCODER_FILTERS = [
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_templated_secret",
    "detect_secrets.filters.heuristic.is_sequential_string",
]
PRIVATE_KEY = re.compile(
    r"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)(.*?)"
    r"(-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)",
    re.S,
)
EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.])")
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])|"
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:?){1,6}(?![\w:])"
)
# Popular public DNS resolvers are configuration, not personal data (bigcode's PII README).
POPULAR_DNS = frozenset(
    {
        "8.8.8.8",
        "8.8.4.4",
        "1.1.1.1",
        "1.0.0.1",
        "9.9.9.9",
        "149.112.112.112",
        "208.67.222.222",
        "208.67.220.220",
        "76.76.19.19",
        "76.223.122.150",
        "94.140.14.14",
        "94.140.15.15",
        "2001:4860:4860::8888",
        "2001:4860:4860::8844",
    }
)
# Synthetic private addresses, as bigcode's replacements.json.
IPV4_REPLACEMENTS = ("172.16.31.10", "172.16.58.3", "172.16.17.32", "192.168.3.11", "192.168.127.12")
IPV6_REPLACEMENTS = (
    "fd00:c2b6:b24b:be67:2827:688d:e6a1:6a3b",
    "fd00:a516:7c1b:17cd:6d81:2137:bd2a:2c5b",
    "fc00:e968:6179::de52:7100",
    "fc00:db20:35b:7399::5",
    "fdbf:7a9b:4e35:3a1c::1",
)
_HASH_WORDS = re.compile(r"sha|md5|hash|byte", re.I)
_VERSION_BEFORE = re.compile(r"(?:version|ver|v|==|>=|<=|~=)[\s\"'=:]*$", re.I)
# The gibberish check guards the entropy plugins only: a pattern plugin's match (a webhook URL holds
# words) is a secret by its shape.
_ENTROPY_TYPES = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})


def _gibberish_detector(limit: float):
    """detect-secrets' gibberish detector with the model it ships (trained on RFC text, lower case)."""
    import os

    from detect_secrets.filters import gibberish
    from gibberish_detector import serializer
    from gibberish_detector.detector import Detector
    from gibberish_detector.model import Model

    model = Model(charset="")
    with open(os.path.join(gibberish.__path__[0], "rfc.model")) as f:
        model.update(serializer.deserialize(f.read()))
    return Detector(model=model, threshold=limit)


def _looks_random(detector, value: str) -> bool:
    """A key must look random; hex strings have too small an alphabet for the model to judge (kept)."""
    if not set(value) - set(string.hexdigits + "-"):
        return True
    return detector.is_gibberish(value.lower())


Screen = tuple[re.Pattern, Callable[[AsciiViews], bool] | None]


def _screens() -> list[Screen] | None:
    """Patterns that find every line a configured plugin can fire on (see `_candidate_lines`), each with the
    pre-check of `secret_prechecks` that rules it out cheaply where one exists."""
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.settings import get_plugins

    screens: list[re.Pattern] = []
    for plugin in get_plugins():
        if isinstance(plugin, RegexBasedDetector):
            screens += [re.compile(p.pattern, p.flags | re.M) for p in plugin.denylist]
        elif isinstance(plugin, HighEntropyStringsPlugin):
            # A string of n characters has at most log2(n) bits of entropy per character, so the plugin's
            # limit needs at least 2**limit characters; detect-secrets only scores quoted strings in files.
            shortest = max(int(2**plugin.entropy_limit), 1)
            screens.append(re.compile(rf"([\'\"])[{re.escape(plugin.charset)}]{{{shortest},}}\1"))
        else:
            return None
    return [(p, screen_precheck(p.pattern)) for p in screens]


def _rng(doc_id: str, value: str) -> random.Random:
    return random.Random(xxhash.xxh64_intdigest(f"{doc_id}\0{value}".encode("utf-8", "surrogatepass")))


def _random_key(rng: random.Random, n: int = 32) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


class CodeSecrets(Stage):
    """Redacts keys, tokens, private keys, e-mails and public IPs in code; drops nothing."""

    type = "code_secrets"
    config: Config

    class Config(StageConfig):
        plugins: list[dict[str, Any]] = Field(default_factory=lambda: [dict(p) for p in STARCODER_PLUGINS])
        filters: list[str] = list(STARCODER_FILTERS)
        gibberish_check: bool = True  # keep a key only if it looks random (bigcode: gibberish-detector)
        gibberish_limit: float = 3.7  # detect-secrets' threshold for its shipped model
        hash_lengths: list[int] = [32, 40, 64]  # md5, sha1, sha256 hex digests
        file_hash_line_share: float = Field(0.02, ge=0, le=1)  # bigcode `file_has_hashes`
        private_key_blocks: bool = True
        emails: bool = True
        ips: bool = True
        key_length: int = Field(32, ge=8)  # bigcode: 32 random alphanumerics per key
        # Scan only the lines a plugin can fire on (same findings, several times faster; see _candidate_lines).
        screen_lines: bool = True
        # Skip a pattern where a cheap check shows it cannot match (same findings; see secret_prechecks).
        prechecks: bool = True

    def setup(self) -> None:
        from detect_secrets.settings import transient_settings

        cfg = self.config
        self._settings = {"plugins_used": cfg.plugins, "filters_used": [{"path": f} for f in cfg.filters]}
        self._transient = transient_settings

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        with self._transient(self._settings):
            from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

            self._plugin_of = get_mapping_from_secret_type_to_class()
            self._screens = _screens() if self.config.screen_lines else None
            self._gibberish = _gibberish_detector(self.config.gibberish_limit) if self.config.gibberish_check else None
            for doc in docs:
                self.redact(doc)
                yield doc

    def redact(self, doc: Document) -> None:
        """Replace the secrets, e-mails and public IPs of one document in place, counting each by type."""
        text, found = doc.text, 0
        if self.config.private_key_blocks and "PRIVATE KEY" in text:
            text, n = self._private_keys(doc.id, text)
            found += n
        text, n = self._keys(doc, text)
        found += n
        prechecks = self.config.prechecks
        if self.config.emails and "@" in text and (not prechecks or may_hold_email(text)):
            text, n = self._emails(doc.id, text)
            found += n
        if self.config.ips:
            text, n = self._ips(doc.id, text)
            found += n
        if found:
            doc.text = text
            doc.annotations.setdefault("flags", []).append("pii_redacted")
            self.ledger.count("files_redacted")

    def _private_keys(self, doc_id: str, text: str) -> tuple[str, int]:
        count = 0

        def sub(m: re.Match) -> str:
            nonlocal count
            count += 1
            return f"{m.group(1)}\n{_random_key(_rng(doc_id, m.group(2)), self.config.key_length)}\n{m.group(3)}"

        text = PRIVATE_KEY.sub(sub, text)
        if count:
            self.ledger.histogram("secrets_redacted", "Private Key Block", count)
        return text, count

    def _candidate_lines(self, text: str, lines: list[str]) -> list[tuple[int, str]] | None:
        """The (number, line) pairs any configured plugin could fire on; None when a plugin cannot be screened.

        detect-secrets calls every plugin on every line through its dependency injection, which costs more
        than the plugins' own regexes. A regex plugin can only fire on a line its patterns match, and an
        entropy plugin only on a quoted string long enough to reach its entropy limit, so one pass of those
        patterns over the whole text finds every line worth scanning.
        """
        if self._screens is None:
            return None
        starts = list(accumulate(map((1).__add__, map(len, lines[:-1])), initial=0))
        views = AsciiViews(text) if self.config.prechecks and text.isascii() else None
        hit: set[int] = set()
        for pattern, precheck in self._screens:
            if views is not None and precheck is not None and not precheck(views):
                continue
            for m in pattern.finditer(text):
                first = bisect.bisect_right(starts, m.start())
                last = bisect.bisect_right(starts, max(m.end() - 1, m.start()))
                hit.update(range(first, last + 1))
        return [(n, lines[n - 1]) for n in sorted(hit)]

    def _keys(self, doc: Document, text: str) -> tuple[str, int]:
        from detect_secrets.core.scan import _process_line_based_plugins

        lines = text.split("\n")
        hash_lines = self._hash_lines(text, lines)
        file_has_hashes = hash_lines > self.config.file_hash_line_share * len(lines)
        hits: dict[int, list[tuple[str, str]]] = {}
        candidates = self._candidate_lines(text, lines)
        if candidates is None:
            candidates = list(enumerate(lines, 1))
        if not candidates:
            return text, 0
        for secret in _process_line_based_plugins(candidates, doc.meta.get("path") or doc.id):
            value = secret.secret_value or ""
            line = lines[secret.line_number - 1]
            if len(value) in self.config.hash_lengths and (file_has_hashes or _HASH_WORDS.search(line)):
                self.ledger.count("hash_like_values_kept")
                continue
            if (
                secret.type in _ENTROPY_TYPES
                and self._gibberish is not None
                and not _looks_random(self._gibberish, value)
            ):
                self.ledger.count("words_not_keys_kept")
                continue
            hits.setdefault(secret.line_number, []).append((secret.type, self._whole(secret.type, value, line)))
        count = 0
        for line_no, found in hits.items():
            line = lines[line_no - 1]
            # Longest value first; a named detector before an entropy plugin for the same value.
            for kind, value in sorted(set(found), key=lambda x: (-len(x[1]), x[0] in _ENTROPY_TYPES, x[0])):
                if value and value in line:
                    line = line.replace(value, _random_key(_rng(doc.id, value), self.config.key_length))
                    self.ledger.histogram("secrets_redacted", kind)
                    count += 1
            lines[line_no - 1] = line
        return ("\n".join(lines), count) if count else (text, 0)

    def _hash_lines(self, text: str, lines: list[str]) -> int:
        """Lines that mention sha/md5/hash/byte, from the places the words occur in the whole text."""
        if not self.config.prechecks:
            return sum(1 for ln in lines if _HASH_WORDS.search(ln))
        if text.isascii():  # ASCII case-insensitive matching is lower-casing
            lower = text.lower()
            hits = []
            for word in ("sha", "md5", "hash", "byte"):
                at = lower.find(word)
                while at >= 0:
                    hits.append(at)
                    at = lower.find(word, at + 1)
        else:  # a match never holds a line break, so the whole text has one wherever a line does
            hits = [m.start() for m in _HASH_WORDS.finditer(text)]
        if not hits:
            return 0
        ends = list(accumulate(map((1).__add__, map(len, lines))))
        return len({bisect.bisect_right(ends, at) for at in hits})

    def _whole(self, kind: str, value: str, line: str) -> str:
        """The whole match of a regex plugin: some report a capture group (GitHubTokenDetector gives "ghp")."""
        plugin = self._plugin_of.get(kind)
        for pattern in getattr(plugin, "denylist", ()) or ():
            for m in pattern.finditer(line):
                if value in m.group(0) and len(m.group(0)) > len(value):
                    return m.group(0)
        return value

    def _emails(self, doc_id: str, text: str) -> tuple[str, int]:
        count = 0

        def sub(m: re.Match) -> str:
            nonlocal count
            value = m.group(0)
            if value.lower().endswith(("@example.com", "@example.org", "@example.net")):
                return value
            count += 1
            rng = _rng(doc_id, value)
            return "".join(rng.choice(string.ascii_lowercase) for _ in range(5)) + "@example.com"

        text = EMAIL.sub(sub, text)
        if count:
            self.ledger.count("emails_redacted", count)
        return text, count

    def _ips(self, doc_id: str, text: str) -> tuple[str, int]:
        count = 0

        def replace(m: re.Match, pool: tuple[str, ...]) -> str:
            nonlocal count
            value = m.group(0)
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                return value
            if not ip.is_global or value in POPULAR_DNS:
                return value
            if ip.version == 4 and _VERSION_BEFORE.search(m.string[max(0, m.start() - 24) : m.start()]):
                return value  # "version 1.2.3.4" is a version, not a host
            count += 1
            return _rng(doc_id, value).choice(pool)

        prechecks = self.config.prechecks
        if "." in text and (not prechecks or may_hold_ipv4(text)):
            text = IPV4.sub(lambda m: replace(m, IPV4_REPLACEMENTS), text)
        if ":" in text and (not prechecks or may_hold_ipv6(text)):
            text = IPV6.sub(lambda m: replace(m, IPV6_REPLACEMENTS), text)
        if count:
            self.ledger.count("ips_redacted", count)
        return text, count
