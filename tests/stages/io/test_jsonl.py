"""JSONL input from peers: bad lines and broken compression are counted, never fatal."""

import gzip

from corpusforge.stages.io.jsonl import JsonlReader


def test_bad_lines_are_counted_by_reason(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b'{"id": "1", "text": "hello", "metadata": {"url": "u", "junk": 1}}\n'
        b'not json\n{"text": 3}\n{"text": "  "}\n\n{"text": "no id"}\n'
    )
    reader = JsonlReader(paths=[str(path)], source="math")
    docs = list(reader.read_counted(str(path)))
    assert [d.text for d in docs] == ["hello", "no id"]
    assert docs[0].id == "1" and docs[0].meta == {"url": "u"} and docs[0].source == "math"
    assert docs[1].id.startswith("math-")
    assert dict(reader.ledger.dropped) == {"invalid_json": 1, "missing_text": 1, "empty_text": 1}
    assert reader.ledger.docs_in == 5 and reader.ledger.balanced


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    lines = b"".join(b'{"text": "doc %d"}\n' % i for i in range(2000))
    blob = gzip.compress(lines)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    reader = JsonlReader(paths=[str(path)])
    docs = list(reader.read_counted(str(path)))
    assert 0 < len(docs) < 2000
    assert any(k.startswith("corrupt_compression") for k in reader.ledger.dropped)
    assert reader.ledger.balanced
