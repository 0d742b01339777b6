"""Damaged and hostile input: each case is a named drop, the run goes on, the ledger balances."""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.web import wrap_pages_as_warc
from corpusforge.stages.io.warc import WarcReader
from corpusforge.stages.web.extract import Extract, html_depth_exceeds

ARTICLE = (
    "<html><head><title>t</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav>"
    "<article><h1>Walking the old canal path</h1>"
    + "".join(
        f"<p>Paragraph {i}: the towpath follows the water for miles, past locks, mills and "
        f"quiet villages where the boats once stopped to trade coal and grain.</p>"
        for i in range(8)
    )
    + "</article><footer>Copyright 2024</footer></body></html>"
)


def _pages(n: int) -> list[tuple[str, bytes]]:
    return [(f"http://site.test/{i}", ARTICLE.replace("Paragraph", f"Part {i}").encode()) for i in range(n)]


def _members(blob: bytes) -> list[bytes]:
    """The gzip members of a per-record-compressed WARC."""
    out, pos = [], 0
    while pos < len(blob):
        d = zlib.decompressobj(31)
        d.decompress(blob[pos:])
        end = len(blob) - len(d.unused_data)
        out.append(blob[pos:end])
        pos = end
    return out


def _read(path) -> tuple[WarcReader, list[Document]]:
    reader = WarcReader(paths=[str(path)])
    docs = list(reader.read_counted(str(path)))
    assert reader.ledger.balanced
    return reader, docs


def _urls(docs):
    return [d.meta["url"] for d in docs]


@pytest.fixture
def good(tmp_path) -> list[bytes]:
    """warcinfo + 6 response members."""
    return _members(Path(wrap_pages_as_warc(_pages(6), tmp_path / "good.warc.gz")).read_bytes())


def test_corrupt_gzip_member_resyncs_on_the_next(tmp_path, good):
    bad = bytearray(good[3])
    bad[len(bad) // 2 : len(bad) // 2 + 16] = b"\x00" * 16
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(b"".join(good[:3]) + bytes(bad) + b"".join(good[4:]))
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 1, 3, 4, 5)]
    assert dict(reader.ledger.dropped) == {"corrupt_gzip": 1}
    assert reader.ledger.extra["fast_path_resumed"] == 1  # fastwarc reads on after the damage
    # two damaged members: each is one named drop, everything between and after is read
    path.write_bytes(b"".join(good[:2]) + bytes(bad) + good[3] + bytes(bad) + b"".join(good[5:]))
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 2, 4, 5)]
    assert dict(reader.ledger.dropped) == {"corrupt_gzip": 2}


def test_truncated_file_keeps_what_was_read(tmp_path, good):
    path = tmp_path / "trunc.warc.gz"
    path.write_bytes(b"".join(good[:5]) + good[5][: len(good[5]) // 2])
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in range(4)]
    assert dict(reader.ledger.dropped) == {"truncated_record": 1}


def test_whole_file_gzip_keeps_records_ahead_of_the_damage(tmp_path):
    import random

    rng = random.Random(0)
    pages = [
        (
            f"http://w.test/{i}",
            ("<html><body><p>" + " ".join(str(rng.random()) for _ in range(2000)) + "</p></body></html>").encode(),
        )
        for i in range(30)
    ]
    single = tmp_path / "single.warc.gz"  # one gzip member for the whole file, as `gzip x.warc` makes
    single.write_bytes(
        gzip.compress(gzip.decompress(Path(wrap_pages_as_warc(pages, tmp_path / "p.warc.gz")).read_bytes()))
    )
    assert len(_read(single)[1]) == 30
    blob = bytearray(single.read_bytes())
    blob[len(blob) * 3 // 4 : len(blob) * 3 // 4 + 20] = b"\x00" * 20
    single.write_bytes(bytes(blob))
    reader, docs = _read(single)
    assert _urls(docs) == [f"http://w.test/{i}" for i in range(len(docs))] and 15 < len(docs) < 30
    assert dict(reader.ledger.dropped) == {"corrupt_gzip": 1}


def test_member_cut_short_mid_file(tmp_path, good):
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(b"".join(good[:2]) + good[2][:40] + b"".join(good[3:]))
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 2, 3, 4, 5)]
    assert reader.ledger.docs_dropped == 1 and set(reader.ledger.dropped) <= {"corrupt_gzip", "truncated_record"}


@pytest.mark.parametrize(
    "old,new", [(b"WARC-Type: response", b"WARC-Type response"), (b"Content-Length: ", b"Content-Length: x")]
)
def test_broken_header(tmp_path, good, old, new):
    text = gzip.decompress(good[2])
    assert old in text
    path = tmp_path / "hdr.warc.gz"
    path.write_bytes(b"".join(good[:2]) + gzip.compress(text.replace(old, new, 1)) + b"".join(good[3:]))
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 2, 3, 4, 5)]
    assert dict(reader.ledger.dropped) == {"broken_header": 1}


def test_broken_header_in_uncompressed_warc(tmp_path, good):
    text = b"".join(gzip.decompress(m) for m in good)
    i = text.index(b"WARC-Type: response", text.index(b"site.test/1"))
    path = tmp_path / "plain.warc"
    path.write_bytes(text[:i] + b"this line is garbage\r\n" + text[i:])
    reader, docs = _read(path)
    # fastwarc skips a stray header line and the record is intact: it is kept, not dropped
    assert len(docs) == 6 and not reader.ledger.dropped
    j = text.index(b"Content-Length: ", text.index(b"site.test/2"))
    path.write_bytes(text[:j] + b"Content-Length: ?" + text[j + 16 :])
    reader, docs = _read(path)
    assert len(docs) == 5 and dict(reader.ledger.dropped) == {"broken_header": 1}


def test_wrong_content_length_in_uncompressed_warc(tmp_path, good):
    text = b"".join(gzip.decompress(m) for m in good)
    # record 2's Content-Length too large: it runs into record 3, which must not vanish
    i = text.index(b"Content-Length: ", text.index(b"site.test/2"))
    j = text.index(b"\r\n", i)
    path = tmp_path / "inflated.warc"
    path.write_bytes(text[:i] + b"Content-Length: %d" % (int(text[i + 16 : j]) + 150) + text[j:])
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 1, 3, 4, 5)]
    assert dict(reader.ledger.dropped) == {"truncated_record": 1}
    # record 3 cut short mid-payload, record 4 follows straight on
    k = text.index(b"<html", text.index(b"site.test/3"))
    path.write_bytes(text[: k + 10] + text[text.index(b"WARC/1.0", k) :])
    reader, docs = _read(path)
    assert _urls(docs) == [f"http://site.test/{i}" for i in (0, 1, 2, 4, 5)]
    assert dict(reader.ledger.dropped) == {"truncated_record": 1}


def test_non_html_payloads_and_encodings(tmp_path):
    pages = [
        ("http://x.test/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 binary"),
        ("http://x.test/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("http://x.test/json", b'{"not": "html"}'),
        ("http://x.test/empty", b""),
        ("http://x.test/blank", b"   \n\t  "),
        ("http://x.test/bad-utf8", ARTICLE.encode().replace(b"towpath", b"tow\xffpath", 1)),
        (
            "http://x.test/cp1251",
            ("<html><body><p>" + "Мой дед научил меня терпению. " * 20 + "</p></body></html>").encode("cp1251"),
        ),
        ("http://x.test/binary", b"<html>" + bytes(range(256)) * 40),
        ("http://x.test/last", ARTICLE.encode()),
    ]
    # No identified payload type: the reader falls back on sniffing the bytes.
    path = wrap_pages_as_warc(pages, tmp_path / "mixed.warc.gz", payload_type=False)
    reader, docs = _read(path)
    assert _urls(docs) == ["http://x.test/bad-utf8", "http://x.test/cp1251", "http://x.test/last"]
    assert dict(reader.ledger.dropped) == {"non_html": 3, "empty_payload": 2, "undecodable": 1}
    assert reader.ledger.extra["decoded_with_replacement"] == 1
    assert reader.ledger.extra["charset_detected"] == 1  # no label at all: cchardet
    assert "tow\ufffdpath" in docs[0].text and "Мой дед" in docs[1].text


def test_huge_page_is_skipped_and_reading_goes_on(tmp_path):
    huge = b"<html><body>" + b"<p>spam spam spam spam</p>" * (20_000_000 // 26) + b"</body></html>"
    assert len(huge) > 20_000_000
    path = wrap_pages_as_warc([("http://h.test/huge", huge)] + _pages(2), tmp_path / "huge.warc.gz")
    reader, docs = _read(path)
    assert len(docs) == 2 and dict(reader.ledger.dropped) == {"too_large": 1}


def _extract(docs, **settings) -> tuple[Extract, list[Document]]:
    stage = Extract(**settings)
    out = list(stage.run(docs))
    assert stage.ledger.balanced
    return stage, out


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse", "blocks"])
def test_deep_large_and_empty_html_in_extract(extractor):
    deep = "<html><body>" + "<div>" * 10_000 + "<p>deep</p>" + "</div>" * 10_000 + "</body></html>"
    docs = [
        Document("deep", deep),
        Document("big", "<html><body>" + "<p>words here</p>" * 400_000 + "</body></html>"),
        Document("nav", "<html><head><script>var x = 1;</script></head><body><img src='a.png'></body></html>"),
        Document("ok", ARTICLE),
    ]
    stage, out = _extract(docs, extractor=extractor)
    assert [d.id for d in out] == ["ok"]
    assert dict(stage.ledger.dropped) == {"too_deep": 1, "too_large": 1, "empty_text": 1}
    assert "Paragraph 3" in out[0].text and "Copyright" not in out[0].text


def test_depth_scan_ignores_implied_and_raw_text():
    assert html_depth_exceeds("<div>" * 300, 256)
    assert not html_depth_exceeds("<p>" * 3000 + "<li>" * 3000 + "<br>" * 1000, 256)
    assert not html_depth_exceeds("<script>" + "<div>" * 300 + "</script><!--" + "<div>" * 300 + "-->", 256)
    assert not html_depth_exceeds(("<div>" * 200 + "</div>" * 200) * 5, 256)


def test_timeout_is_a_named_drop_and_the_run_goes_on():
    slow = (
        "<html><body>"
        + "".join(f"<div><p>Sentence {i} has some words in it.</p></div>" for i in range(20_000))
        + "</body></html>"
    )
    stage, out = _extract([Document("slow", slow), Document("ok", ARTICLE)], timeout_s=0.01)
    assert [d.id for d in out] == ["ok"] and dict(stage.ledger.dropped) == {"timeout": 1}


def test_outside_the_main_thread_extraction_runs_untimed():
    result = {}

    def work():
        result["stage"], result["out"] = _extract([Document("ok", ARTICLE)], timeout_s=0.5)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert [d.id for d in result["out"]] == ["ok"]
    assert result["stage"].ledger.extra["timeout_unavailable_outside_main_thread"] == 1


@pytest.mark.parametrize("compressed", [True, False])
def test_short_content_length_is_one_damaged_record_and_reading_resyncs(tmp_path, compressed):
    members = _members(Path(wrap_pages_as_warc(_pages(30), tmp_path / "w.warc.gz")).read_bytes())
    texts = [gzip.decompress(m) for m in members]  # warcinfo + 30 responses
    short = {3, 9, 10, 21, 30}
    for k in short:  # each Content-Length under the real length: the record's tail is left over
        i = texts[k].index(b"Content-Length: ")
        j = texts[k].index(b"\r\n", i)
        texts[k] = texts[k][:i] + b"Content-Length: %d" % (int(texts[k][i + 16 : j]) - 40 * k) + texts[k][j:]
    path = tmp_path / ("short.warc.gz" if compressed else "short.warc")
    path.write_bytes(b"".join(gzip.compress(t) if compressed else t for t in texts))
    reader, docs = _read(path)
    assert reader.ledger.docs_in == 30  # records seen == records in the file
    assert dict(reader.ledger.dropped) == {"short_content_length": 5}
    assert _urls(docs) == [f"http://site.test/{k - 1}" for k in range(1, 31) if k not in short]
    assert all(d.text.rstrip().endswith("</html>") for d in docs)  # no page kept with its tail cut
