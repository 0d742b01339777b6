"""The generated Common Crawl sample: deterministic, fast, and holding work for every web stage."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

from corpusforge.samples.web import BLOCKLISTED_DOMAINS, SHARED_BENCHMARKS, write_sample
from corpusforge.stages.io.warc import WarcReader


def _responses(paths):
    from warcio.archiveiterator import ArchiveIterator

    out = []
    for p in paths:
        with open(p, "rb") as f:
            for r in ArchiveIterator(f):
                out.append((r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read()))
    return out


def test_sample_is_fast_deterministic_and_varied(tmp_path):
    t0 = time.perf_counter()
    paths = write_sample(str(tmp_path / "a"), seed=0)
    assert time.perf_counter() - t0 < 10
    assert len(paths) == 4 and all(p.endswith(".warc.gz") for p in paths)
    digest = lambda ps: [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in ps]
    assert digest(paths) == digest(write_sample(str(tmp_path / "b"), seed=0))
    assert digest(paths) != digest(write_sample(str(tmp_path / "c"), seed=1))

    records = _responses(paths)
    kinds = Counter(k for k, _, _ in records)
    assert 150 <= kinds["response"] <= 300 and kinds["request"] > 0 and kinds["metadata"] > 0
    pages = {url: body for k, url, body in records if k == "response"}
    html = b"\n".join(pages.values()).decode("utf-8", "replace")
    # languages
    for lang in ("de", "fr", "es", "ru", "zh", "ja"):
        assert f"lang='{lang}'" in html
    # exact duplicates at other URLs, and near duplicates
    counts = Counter(pages.values())
    assert sum(1 for c in counts.values() if c > 1) >= 5
    assert sum(1 for u in pages if u.endswith("-updated")) >= 5
    # spam, thin, blocklisted, PII, non-HTML, damage
    assert "BUY NOW" in html and "lorem ipsum" in html and "Coming soon." in html
    assert all(any(d in u for u in pages) for d in BLOCKLISTED_DOMAINS)
    assert "@example.org" in html or "@mail-provider.com" in html or "@newsroom.net" in html
    assert "203.0.113." in html
    assert any(b.startswith(b"%PDF") for b in pages.values()) and any(b.startswith(b"\x89PNG") for b in pages.values())
    assert b"" in pages.values()
    # English articles are long enough to be real documents and not all alike
    articles = [b for u, b in pages.items() if ("/gardening/" in u or "/cooking/" in u) and "mirror." not in u]
    assert len(articles) > 10 and len(set(articles)) == len(articles)


def test_benchmark_items_are_planted_when_shared_data_exists(tmp_path):
    paths = write_sample(str(tmp_path), seed=0)
    html = b"\n".join(b for k, _, b in _responses(paths) if k == "response").decode("utf-8", "replace")
    assert "A baker fills 14 trays with 12 rolls each." in html  # our own GSM8K-style question
    gsm = SHARED_BENCHMARKS / "gsm8k" / "test.jsonl"
    if gsm.exists():
        questions = [json.loads(line)["question"] for line in gsm.read_text().splitlines()]
        assert any(q in html for q in questions)
        prompts = [
            json.loads(line)["prompt"]
            for line in gzip.decompress(
                (SHARED_BENCHMARKS / "humaneval" / "HumanEval.jsonl.gz").read_bytes()
            ).splitlines()
        ]
        escaped = [p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for p in prompts]
        assert any(p in html for p in escaped)


def test_sample_reads_with_named_drop_reasons(tmp_path):
    paths = write_sample(str(tmp_path), seed=0)
    reader = WarcReader(paths=paths)
    docs = [d for p in paths for d in reader.read_counted(p)]
    assert reader.ledger.balanced and len(docs) == reader.ledger.docs_out
    assert set(reader.ledger.dropped) == {"non_html", "http_status", "empty_payload"}
    assert {"decoded_with_replacement", "charset_mislabelled"} <= set(reader.ledger.extra)


def test_sample_gives_extract_a_named_drop(tmp_path):
    from corpusforge.stages.web.extract import Extract

    paths = write_sample(str(tmp_path), seed=0)
    docs = [d for p in paths for d in WarcReader().read_counted(p)]
    stage = Extract(extractor="resiliparse")
    out = list(stage.run(docs))
    assert dict(stage.ledger.dropped) == {"empty_text": 1} and stage.ledger.balanced
    assert not any("app.example.io" in d.meta["url"] for d in out)
