"""URL filter: blocklisted domains (subdomains included) and banned words in the URL.

The rules of datatrove's URLFilter, used by FineWeb (Penedo et al. 2024, 3.2): a domain
blocklist, hard banned words (any one drops), soft banned words (two or more drop) and banned
subwords (substrings of the URL with punctuation removed). The word lists are the ones datatrove
ships; the full UT1 domain list (4.6M domains) is opt-in because it costs ~0.5 GB per worker.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from typing import Literal
from urllib.parse import urlsplit

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.stages.base import Filter, StageConfig

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def default_blocklist_path() -> str:
    """The small blocklist shipped with corpusforge (stages/web/data/url_blocklist.txt)."""
    return str(files("corpusforge.stages.web") / "data" / "url_blocklist.txt")


def _datatrove_assets() -> str:
    from datatrove.utils._import_utils import ASSETS_PATH

    return ASSETS_PATH


def _list_lines(lines: Iterable[str]) -> list[str]:
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def normalize_word(word: str) -> str:
    """Lower-case with everything but ASCII letters and digits removed (datatrove's normalize)."""
    return _NON_ALNUM.sub("", word.lower())


@lru_cache(maxsize=8)
def read_domain_list(path: str) -> frozenset[str]:
    """Domains of a blocklist file (one per line, '#' comments), lower-cased; '*.' prefixes dropped."""
    text = storage.read_text(path)
    return frozenset(d.lower().removeprefix("*.").rstrip(".") for d in _list_lines(text.splitlines()))


@lru_cache(maxsize=1)
def datatrove_lists() -> dict[str, frozenset[str]]:
    """datatrove's banned word lists (banned, soft banned, banned subwords), normalized."""
    base = _datatrove_assets()
    out = {}
    for key, name in (
        ("words", "banned_words.txt"),
        ("soft", "soft_banned_words.txt"),
        ("subwords", "banned_subwords.txt"),
    ):
        with open(f"{base}/{name}", encoding="utf-8") as f:
            out[key] = frozenset(w for w in map(normalize_word, _list_lines(f)) if w)
    return out


@lru_cache(maxsize=1)
def datatrove_domain_list() -> tuple[frozenset[str], frozenset[str]]:
    """(domains, urls) of the UT1 blocklist in datatrove's assets, read straight from the tarball."""
    path = f"{_datatrove_assets()}/url_filterblacklistsv0_3_0.tar.gz"
    out = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in ("domains", "urls"):
            f = tar.extractfile(member)
            assert f is not None, f"{path}: {member} is not a regular file"  # extractfile: None for dirs/links
            out[member] = frozenset(_list_lines(line.decode("utf-8", "replace") for line in f))
    return out["domains"], out["urls"]


def url_host(url: str) -> str | None:
    """Lower-case host name of a URL (scheme optional), or None when it has none."""
    try:
        host = urlsplit(url if "://" in url else "//" + url).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


class UrlFilter(Filter):
    """Drops documents whose URL's domain is blocklisted or whose URL holds banned words."""

    type = "url_filter"
    config: Config

    class Config(StageConfig):
        blocklists: list[str] | None = None  # domain list files; None: the shipped url_blocklist.txt
        extra_domains: list[str] = []
        # FineWeb's lists from datatrove's assets: banned words on by default, UT1 domains opt-in.
        datatrove_word_lists: bool = True
        datatrove_domain_list: bool = False
        banned_words: list[str] = []
        soft_banned_words: list[str] = []
        banned_subwords: list[str] = []
        soft_word_threshold: int = 2  # datatrove URLFilter default
        # Documents without meta.url: datatrove asserts; we keep them (code, synthetic) and count them.
        missing_url: Literal["keep", "drop"] = "keep"

        def input_paths(self) -> dict[str, list[str]]:
            return {f"blocklists[{i}]": [p] for i, p in enumerate(self.blocklists or [])}

    def setup(self) -> None:
        c = self.config
        domains: set[str] = {d.lower() for d in c.extra_domains}
        for path in c.blocklists if c.blocklists is not None else [default_blocklist_path()]:
            domains |= read_domain_list(path)
        self._urls: frozenset[str] = frozenset()
        if c.datatrove_domain_list:
            dt_domains, self._urls = datatrove_domain_list()
            domains |= dt_domains
        self._domains = frozenset(domains)
        words = {normalize_word(w) for w in c.banned_words}
        soft = {normalize_word(w) for w in c.soft_banned_words}
        subwords = {normalize_word(w) for w in c.banned_subwords}
        if c.datatrove_word_lists:
            lists = datatrove_lists()
            words |= lists["words"]
            soft |= lists["soft"]
            subwords |= lists["subwords"]
        self._words = frozenset(words - {""})
        self._soft = frozenset(soft - {""})
        subwords.discard("")
        # Longest first, so the alternation reports the longest subword at a position.
        self._subwords = (
            re.compile("|".join(map(re.escape, sorted(subwords, key=len, reverse=True)))).search if subwords else None
        )

    def reject(self, doc: Document) -> str | None:
        url = doc.meta.get("url")
        if not url:
            self.ledger.count("missing_url")
            return "missing_url" if self.config.missing_url == "drop" else None
        host = url_host(url)
        if host and self.blocked_domain(host):
            return "url_blocklisted_domain"
        if url in self._urls:
            return "url_blocklisted_url"
        url_l = url.lower()
        url_words = set(_NON_ALNUM.split(url_l))
        if not self._words.isdisjoint(url_words):
            return "url_banned_word"
        if self._soft and len(self._soft.intersection(url_words)) >= self.config.soft_word_threshold:
            return "url_soft_banned_words"
        if self._subwords is not None and self._subwords(_NON_ALNUM.sub("", url_l)):
            return "url_banned_subword"
        return None

    def blocked_domain(self, host: str) -> bool:
        """True when `host` or any parent domain of it is on the blocklist."""
        domains = self._domains
        while True:
            if host in domains:
                return True
            dot = host.find(".")
            if dot < 0:
                return False
            host = host[dot + 1 :]
