"""The ledger merges by addition and balances; documents survive the Parquet round trip."""

import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document, to_table
from corpusforge.core.stats import StageStats, merge_ledgers
from corpusforge.stages.base import Filter


def test_ledgers_merge_across_tasks_in_stage_order():
    a = [StageStats("read", docs_in=3, docs_out=2), StageStats("f", docs_in=2, docs_out=1)]
    a[0].drop("bad", 10)
    a[1].drop("short", 5)
    a[1].histogram("lang", "en")
    b = [StageStats("read", docs_in=1, docs_out=1), StageStats("f", docs_in=1, docs_out=1)]
    b[1].histogram("lang", "en", 2)
    merged = merge_ledgers([a, b])
    assert [s.name for s in merged] == ["read", "f"]
    assert merged[0].docs_in == 4 and merged[0].dropped == {"bad": 1}
    assert merged[1].extra["lang"] == {"en": 3}
    assert all(s.balanced for s in merged)
    assert StageStats.from_dict(merged[1].to_dict()).to_dict() == merged[1].to_dict()


def test_documents_round_trip_through_parquet(tmp_path):
    docs = [
        Document(
            "a",
            "héllo",
            "web",
            {"url": "http://x", "language_score": 0.5},
            {"scores": {"edu": 0.25}, "flags": ["x"], "quality_bucket": 3},
        ),
        Document("b", "", "code"),
    ]
    path = str(tmp_path / "d.parquet")
    storage.write_documents(path, docs)
    assert list(storage.read_documents(path)) == docs


def test_unknown_meta_key_is_refused():
    with pytest.raises(KeyError, match="outside the schema"):
        to_table([Document("a", "t", meta={"made_up": 1})])


class _Short(Filter):
    type = "short"

    def reject(self, doc):
        return "too_short" if len(doc.text) < 3 else None


def test_filter_counts_every_drop_by_reason():
    stage = _Short()
    out = list(stage.run([Document("a", "x"), Document("b", "long enough"), Document("c", "")]))
    assert [d.id for d in out] == ["b"]
    assert stage.ledger.docs_in == 3 and stage.ledger.dropped == {"too_short": 2} and stage.ledger.balanced


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = str(tmp_path / "x.bin")
    with pytest.raises(RuntimeError), storage.atomic_write(path) as f:
        f.write(b"half")
        raise RuntimeError("killed")
    assert not (tmp_path / "x.bin").exists() and list(tmp_path.iterdir()) == []
