"""URL filter: subdomain-aware blocklists, banned words, and documents without a URL."""

import pytest

from corpusforge.core.document import Document
from corpusforge.stages.web.url_filter import UrlFilter, url_host


def _reason(stage: UrlFilter, url: str | None) -> str | None:
    stage.setup()
    return stage.reject(Document("d", "text", meta={"url": url} if url else {}))


@pytest.mark.parametrize(
    "url,reason",
    [
        ("https://casino-spam.example/", "url_blocklisted_domain"),
        ("http://WWW.Casino-Spam.Example:8080/win?x=1", "url_blocklisted_domain"),
        ("https://a.b.hot-adult-cams.xxx/page", "url_blocklisted_domain"),
        ("https://cheap-pills-online.biz/", "url_blocklisted_domain"),
        ("https://notcasino-spam.example/", None),  # a suffix match is not a subdomain
        ("https://news.example.org/2024/porn-ring-arrested", "url_banned_word"),
        ("https://blog.example.org/a-walk-in-the-park", None),
        ("https://en.wikipedia.org/wiki/Compost", None),
    ],
)
def test_default_lists(url, reason):
    assert _reason(UrlFilter(), url) == reason


def test_custom_blocklist_file_and_word_lists(tmp_path):
    path = tmp_path / "block.txt"
    path.write_text("# my list\n\nbad-site.org\n*.Evil.net\n")
    stage = UrlFilter(
        blocklists=[str(path)],
        datatrove_word_lists=False,
        banned_words=["spam"],
        soft_banned_words=["free", "win"],
        banned_subwords=["casino"],
    )
    assert _reason(stage, "https://x.bad-site.org/") == "url_blocklisted_domain"
    assert _reason(stage, "https://sub.evil.net/") == "url_blocklisted_domain"
    assert _reason(stage, "https://casino-deals.example/") == "url_banned_subword"  # default list replaced
    assert _reason(stage, "https://site.org/spam/page") == "url_banned_word"
    assert _reason(stage, "https://site.org/free-stuff") is None
    assert _reason(stage, "https://site.org/free-win") == "url_soft_banned_words"
    assert _reason(stage, "https://site.org/bestcasinos") == "url_banned_subword"


def test_missing_url_is_kept_and_counted_or_dropped():
    stage = UrlFilter()
    docs = [Document("a", "t"), Document("b", "t", meta={"url": "https://ok.example.org/"})]
    assert [d.id for d in stage.run(docs)] == ["a", "b"]
    assert stage.ledger.extra["missing_url"] == 1
    stage = UrlFilter(missing_url="drop")
    assert [d.id for d in stage.run(docs)] == ["b"]
    assert stage.ledger.dropped == {"missing_url": 1} and stage.ledger.balanced


def test_url_host():
    assert url_host("HTTPS://User@Sub.Example.COM.:443/x") == "sub.example.com"
    assert url_host("example.org/path") == "example.org"
    assert url_host("http://[::1") is None
