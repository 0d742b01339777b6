"""Global exact dedup: normalised hashing, smallest id survives across shards, reruns skip resolve."""

import json
from pathlib import Path

import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.base import Engine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.stages.dedup.exact import ExactDedup, normalize_text, text_hash


class InProcessEngine(Engine):
    """The Engine contract run serially in this process (the shuffle logic under test is the same)."""

    name = "in-process"

    def map(self, fn, items, desc="tasks"):
        return [fn(x) for x in items]


def test_normalisation_matches_fineweb_rules():
    assert normalize_text("Hello,   World!\n Posted 2024-01-05.") == normalize_text("hello world posted 1999 12 31")
    assert normalize_text("ＨＥＬＬＯ Café") == "hello cafe"  # NFKC full-width, diacritics stripped
    assert text_hash("Hello, World!") == text_hash("hello world")
    assert text_hash("Hello, World!", normalize=False) != text_hash("hello world", normalize=False)
    assert text_hash("hello world") != text_hash("hello there")


def test_ascii_fast_path_equals_the_reference_normalisation():
    import unicodedata

    from datatrove.utils.text import simplify_text

    gsm8k = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "benchmarks" / "gsm8k" / "test.jsonl"
    texts = [json.loads(x)["question"] + json.loads(x)["answer"] for x in gsm8k.read_text().splitlines()[:300]]
    texts += [
        "  Hello,\tWorld!! 3.14 and 1,000,000 ...\n\n x",
        "a\x0bb\x1fc",
        "1.2.3 4,5,6 .7 8.",
        "",
        " ",
        "Tab\there\r\nCR",
        "x\u00a0y ８ é",
    ]
    assert sum(t.isascii() for t in texts) > 250
    for t in texts:
        assert normalize_text(t) == simplify_text(unicodedata.normalize("NFKC", t)), t


def test_unicode_path_equals_the_reference_normalisation():
    """Random strings over the scripts and code points the fast path has special cases for (combining marks, Unicode
    whitespace and digits, full-width forms, control characters, lone surrogates) normalise as datatrove does."""
    import random
    import unicodedata

    from datatrove.utils.text import simplify_text

    ranges = [
        range(0, 128),
        range(0x80, 0x250),
        range(0x300, 0x370),
        range(0x2000, 0x2070),
        range(0x660, 0x66A),
        range(0x900, 0x980),
        range(0x1F00, 0x2000),
        range(0x4E00, 0x4E40),
        range(0xFF00, 0xFF66),
        range(0xE0100, 0xE0110),
        range(0xD800, 0xD810),
    ]
    rng = random.Random(0)
    for _ in range(5000):
        t = "".join(chr(rng.choice(rng.choice(ranges))) for _ in range(rng.randrange(40)))
        assert normalize_text(t) == simplify_text(unicodedata.normalize("NFKC", t)), ascii(t)
        assert text_hash(t) == text_hash(normalize_text(t), normalize=False)


def _shards(tmp_path: Path) -> list[list[Document]]:
    # Groups spread over shards: the smallest id of each must survive, whatever shard it is in.
    return [
        [Document("d05", "The same page."), Document("d01", "unique one"), Document("d09", "Boilerplate 12!")],
        [Document("d02", "the SAME page"), Document("d07", "unique two"), Document("d08", "boilerplate 99")],
        [Document("d03", "The same page."), Document("d04", "unique three"), Document("d06", "unique one")],
    ]


def _config(tmp_path: Path, out: str, normalize: bool = True, buckets: int = 4) -> dict:
    for i, docs in enumerate(_shards(tmp_path)):
        storage.write_documents(str(tmp_path / "in" / f"{i}.parquet"), docs)
    return {
        "name": "dedup",
        "output": out,
        "engine": {"type": "local", "workers": 2},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [{"type": "exact_dedup", "normalize": normalize, "buckets": buckets}],
    }


def _stage_with_serial_engine(tmp_path: Path, normalize: bool = True) -> tuple[list[str], dict]:
    """prepare/resolve/apply driven directly, the way the runner drives them."""
    workdir = str(tmp_path / "work")
    shards = _shards(tmp_path)
    task_ids = [f"{i:05d}" for i in range(len(shards))]
    for tid, docs in zip(task_ids, shards):
        assert [d.id for d in ExactDedup(normalize=normalize, buckets=3).bind(workdir, tid).prepare(docs)] == [
            d.id for d in docs
        ]
    totals = ExactDedup(normalize=normalize, buckets=3).bind(workdir).resolve(InProcessEngine(), task_ids)
    kept = []
    for tid, docs in zip(task_ids, shards):
        stage = ExactDedup(normalize=normalize, buckets=3).bind(workdir, tid)
        kept += [d.id for d in stage.run(docs)]
        assert stage.ledger.balanced
    return sorted(kept), totals


def test_smallest_id_of_each_group_survives(tmp_path):
    kept, totals = _stage_with_serial_engine(tmp_path)
    # same-page group {d02,d03,d05} -> d02; {d01,d06} -> d01; boilerplate {d08,d09} -> d08
    assert kept == ["d01", "d02", "d04", "d07", "d08"]
    assert totals["duplicate_groups"] == 3 and totals["duplicates"] == 4 and totals["hashed"] == 9
    assert totals["bytes_saved"] == len("The same page.") * 2 + len("unique one") + len("Boilerplate 12!")


def test_without_normalisation_only_identical_texts_match(tmp_path):
    kept, totals = _stage_with_serial_engine(tmp_path, normalize=False)
    assert kept == ["d01", "d02", "d03", "d04", "d07", "d08", "d09"]  # d05 == d03, d06 == d01 byte for byte
    assert totals["duplicate_groups"] == 2


def test_apply_refuses_documents_in_another_order(tmp_path):
    workdir = str(tmp_path / "work")
    docs = [Document("a", "x y"), Document("b", "X, Y!")]
    list(ExactDedup(buckets=2).bind(workdir, "t0").prepare(docs))
    with pytest.raises(RuntimeError, match="before resolve"):
        list(ExactDedup(buckets=2).bind(workdir, "t0").apply(docs))
    ExactDedup(buckets=2).bind(workdir).resolve(InProcessEngine(), ["t0"])
    with pytest.raises(RuntimeError, match="same order"):
        list(ExactDedup(buckets=2).bind(workdir, "t0").apply(docs[::-1]))


def test_pipeline_run_drops_across_shards_and_rerun_skips_resolve(tmp_path):
    out = str(tmp_path / "out")
    result = run_pipeline(validate_pipeline(_config(tmp_path, out)))
    assert sorted(d.id for d in iter_output(out)) == ["d01", "d02", "d04", "d07", "d08"]
    stage = next(s for s in result.stages if s.name == "exact_dedup")
    assert (stage.docs_in, stage.docs_out, dict(stage.dropped)) == (9, 5, {"exact_duplicate": 4})
    assert stage.extra["duplicate_groups"] == 3 and stage.extra["bytes_saved"] > 0
    assert all(s.balanced for s in result.stages)
    done = tmp_path / "out" / "_work" / "global" / "exact_dedup" / "drops.done.json"
    mtime = done.stat().st_mtime_ns
    again = run_pipeline(validate_pipeline(_config(tmp_path, out)))
    assert done.stat().st_mtime_ns == mtime
    assert json.loads(done.read_text())["duplicates"] == 4
    assert [s.to_dict()["dropped"] for s in again.stages] == [s.to_dict()["dropped"] for s in result.stages]
