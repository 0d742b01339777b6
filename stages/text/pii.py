"""PII normalisation as in FineWeb: e-mail addresses and public IP addresses become dummy values.

Same patterns, replacement values and defaults as datatrove's PIIFormatter (Penedo et al. 2024,
3.2): private, loopback and reserved addresses stay. Two differences: replacements cycle per
document rather than per worker, so output does not depend on how the work was split; and public
IPv6 addresses are replaced too (FineWeb handles IPv4 only).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig

# datatrove formatters/pii.py patterns.
EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
# Candidates only; ipaddress decides what is an address (so "12:30:45" is left alone).
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")


def is_public_ip(candidate: str) -> bool:
    """True for a syntactically valid, globally routable IP address."""
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


def is_ip(candidate: str) -> bool:
    """True for a syntactically valid IP address, public or not."""
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        return False


class _Replacer:
    """Replaces the matches of one pattern that pass `valid` with values taken in turn, counting them."""

    def __init__(self, pattern: re.Pattern, values: list[str], valid: Callable[[str], bool] | None = None):
        self.sub = pattern.sub
        self.values = values
        self.valid = valid
        self.n = 0

    def __call__(self, text: str) -> tuple[str, int]:
        self.n = 0
        return self.sub(self._replace, text), self.n

    def _replace(self, m: re.Match) -> str:
        s = m.group(0)
        if self.valid is not None and not self.valid(s):
            return s
        value = self.values[self.n % len(self.values)]
        self.n += 1
        return value


class PiiNormalize(Stage):
    """Replaces e-mail addresses and public IP addresses in the text with dummy values."""

    type = "pii_normalize"
    config: Config

    class Config(StageConfig):
        # Defaults: FineWeb's PII step (datatrove PIIFormatter defaults).
        remove_emails: bool = True
        remove_ips: bool = True
        remove_ipv6: bool = True  # beyond FineWeb: IPv6 addresses identify hosts as IPv4 ones do
        only_remove_public_ips: bool = True
        # example.com/org are reserved for examples (RFC 2606).
        email_replacement: list[str] = ["email@example.com", "firstname.lastname@example.org"]
        # datatrove's dummy addresses: random ones that did not answer pings when the list was made.
        ip_replacement: list[str] = [
            "22.214.171.124",
            "126.96.36.199",
            "188.8.131.52",
            "184.108.40.206",
            "220.127.116.11",
            "18.104.22.168",
        ]
        # The IPv6 documentation prefix (RFC 3849): never routed.
        ipv6_replacement: list[str] = ["2001:db8::1", "2001:db8::2"]

    def setup(self) -> None:
        c = self.config
        valid_ip = is_public_ip if c.only_remove_public_ips else is_ip
        self._email = _Replacer(EMAIL, c.email_replacement) if c.remove_emails else None
        self._ipv4 = _Replacer(IPV4, c.ip_replacement, valid_ip) if c.remove_ips else None
        self._ipv6 = _Replacer(IPV6, c.ipv6_replacement, valid_ip) if c.remove_ipv6 else None

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            yield self.normalize(doc)

    def normalize(self, doc: Document) -> Document:
        """Replace the PII in `doc.text` in place; counts go to the ledger."""
        text = doc.text
        changed = False
        # Cheap guards: no '@' means no e-mail, no ':' no IPv6; most documents skip those scans.
        for key, replacer, guard in (
            ("emails", self._email, "@"),
            ("ipv4", self._ipv4, "."),
            ("ipv6", self._ipv6, ":"),
        ):
            if replacer is None or guard not in text:
                continue
            text, n = replacer(text)
            if n:
                self.ledger.count(f"{key}_replaced", n)
                changed = True
        if changed:
            doc.text = text
            self.ledger.count("docs_changed")
        return doc
