"""WarcReader on the generated sample and on real pages wrapped in WARC: every record accounted for."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from corpusforge.core import storage
from corpusforge.samples.web import wrap_pages_as_warc, write_sample
from corpusforge.stages.io.warc import WarcReader, decode_html

EXTRACTION = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "extraction"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> list[str]:
    return write_sample(str(tmp_path_factory.mktemp("sample")), seed=0)


def _read(paths: list[str], **settings):
    reader = WarcReader(paths=paths, **settings)
    docs = [d for p in paths for d in reader.read_counted(p)]
    return reader, docs


def _response_count(paths: list[str]) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    for p in paths:
        with open(p, "rb") as f:
            n += sum(r.rec_type == "response" for r in ArchiveIterator(f))
    return n


def test_sample_reads_every_response_with_named_drops(sample):
    reader, docs = _read(sample)
    led = reader.ledger
    assert led.docs_in == _response_count(sample)  # docs in = response records, nothing else
    assert 150 <= led.docs_in <= 300
    assert led.balanced and led.docs_out == len(docs)
    assert dict(led.dropped) == {"non_html": 2, "http_status": 1, "empty_payload": 1}
    assert led.extra["records_by_type"] == {"warcinfo": 4, "request": 48, "metadata": 48}
    assert led.extra["decoded_with_replacement"] == 1 and led.extra["charset_mislabelled"] == 1
    ru = next(d for d in docs if "ru-mislabelled" in d.meta["url"])
    assert "Зимой озеро замерзает" in ru.text and ru.meta["charset"] == "cp1251"
    d = docs[0]
    assert d.id.startswith("web-") and d.source == "web"
    assert d.meta["dump"] == "CC-MAIN-2024-10"  # from the warcinfo record
    assert d.meta["domain"] and d.meta["url"].startswith("http")
    assert d.meta["warc_record_id"].startswith("<urn:uuid:")
    assert d.meta["warc_filename"].endswith(".warc.gz") and d.meta["content_type"] == "text/html"
    assert "<html" in d.text.lower()
    # ids are stable: a second read gives the same ones
    assert [x.id for x in _read(sample)[1]] == [x.id for x in docs]


def test_non_response_records_can_be_counted_in(sample):
    reader, docs = _read(sample[:1], count_non_response=True)
    assert reader.ledger.dropped["not_response"] == 1 + 12 + 12  # warcinfo + requests + metadata
    assert reader.ledger.balanced


def test_limit_stops_early(sample):
    reader, docs = _read(sample[:1], limit=5)
    assert len(docs) == 5 and reader.ledger.balanced


def test_payload_type_precedence(tmp_path):
    html = b"<!doctype html><html><body><p>hello</p></body></html>"
    pdf = b"%PDF-1.4 binary"
    # Identified payload type set (Common Crawl): the PDF is rejected by it even though the
    # server said text/html.
    path = wrap_pages_as_warc([("http://a.test/1", html), ("http://a.test/2", pdf)], tmp_path / "a.warc.gz")
    reader, docs = _read([path])
    assert [d.meta["url"] for d in docs] == ["http://a.test/1"] and reader.ledger.dropped["non_html"] == 1


def test_real_pages_round_trip_through_warc(tmp_path):
    if not EXTRACTION.exists():
        pytest.skip("shared extraction data absent")
    from corpusforge.stages.web.extract_blocks import gold_pages

    pages = gold_pages(EXTRACTION, "scrapinghub")[:25]
    path = wrap_pages_as_warc([(p.url, p.html) for p in pages], tmp_path / "real.warc.gz")
    reader, docs = _read([path])
    assert len(docs) == 25 and reader.ledger.balanced and not reader.ledger.dropped
    for page, doc in zip(pages, docs):
        assert doc.meta["url"] == page.url
        assert doc.text == decode_html(page.html, "text/html")[0]
        assert doc.text[:200] == page.html.decode("utf-8", "replace")[:200]


def test_uncompressed_warc_and_s3(tmp_path, s3_server):
    pages = [(f"http://b.test/{i}", f"<html><body><p>page {i}</p></body></html>".encode()) for i in range(5)]
    gz = wrap_pages_as_warc(pages, tmp_path / "b.warc.gz")
    plain = tmp_path / "b.warc"
    plain.write_bytes(gzip.decompress(Path(gz).read_bytes()))
    assert [d.text for d in _read([str(plain)])[1]] == [p[1].decode() for p in pages]
    remote = f"{s3_server}/crawl-data/CC-MAIN-2024-10/b.warc.gz"
    with storage.atomic_write(remote) as f:
        f.write(Path(gz).read_bytes())
    reader, docs = _read([remote])
    assert len(docs) == 5 and docs[0].meta["warc_filename"] == "crawl-data/CC-MAIN-2024-10/b.warc.gz"
    assert docs[0].meta["dump"] == "CC-MAIN-2024-10"


@pytest.mark.parametrize(
    "payload,ctype,expect,charset,outcome",
    [
        ("Grüße aus Köln".encode(), "text/html; charset=utf-8", "Grüße aus Köln", "utf_8", "ok"),
        ("Grüße aus Köln".encode("cp1252"), "text/html; charset=iso-8859-1", "Grüße aus Köln", "cp1252", "ok"),
        # UTF-8 bytes labelled latin-1: the label is wrong, the bytes decode as UTF-8.
        (
            "Grüße aus Köln".encode(),
            "text/html; charset=iso-8859-1",
            "Grüße aus Köln",
            "utf_8",
            "charset_mislabelled",
        ),
        # meta charset when the HTTP header has none
        (
            "<meta charset='koi8-r'>Привет, как дела у всех вас сегодня?".encode("koi8-r"),
            "text/html",
            "<meta charset='koi8-r'>Привет, как дела у всех вас сегодня?",
            "koi8_r",
            "ok",
        ),
    ],
)
def test_decode_html(payload, ctype, expect, charset, outcome):
    assert decode_html(payload, ctype) == (expect, charset, outcome)


def test_decode_tells_stray_bytes_from_a_wrong_label():
    french = (
        "<p>"
        + "Le marché du village se remplit de producteurs, de fromages régionaux et de légumes; après, le café. " * 6
        + "</p>"
    ).encode("cp1252")
    text, charset, outcome = decode_html(french, "text/html; charset=utf-8")
    assert (charset, outcome) == ("cp1252", "charset_mislabelled") and "marché" in text
    english = b"<p>" + b"plain english words here " * 40 + b"\xff\xfe\xc3 more</p>"
    text, charset, outcome = decode_html(english, "text/html; charset=utf-8")
    assert (charset, outcome) == ("utf_8", "decoded_with_replacement") and text.count("\ufffd") == 3
