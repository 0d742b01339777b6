"""Large inputs split into byte ranges: the parts together read exactly what the whole file reads, damage included."""

import gzip
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output, plan_tasks, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.web import wrap_pages_as_warc
from corpusforge.stages.io.jsonl import JsonlReader
from corpusforge.stages.io.parquet import ParquetReader
from corpusforge.stages.io.warc import WarcReader


def _pages(n: int) -> list[tuple[str, bytes]]:
    return [
        (
            f"http://site.test/{i}",
            (
                f"<html><body><article><h1>Page {i}</h1>"
                + f"<p>Paragraph {i}: the towpath follows the water past locks and mills.</p>" * 4
                + "</article></body></html>"
            ).encode(),
        )
        for i in range(n)
    ]


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


def _whole_and_parts(reader_cls, path: Path, task_bytes: int, **settings):
    """(documents, ledger) of the whole file and of its parts read one by one."""
    whole = reader_cls(paths=[str(path)], **settings)
    docs = list(whole.read_counted(str(path)))
    split = reader_cls(paths=[str(path)], task_bytes=task_bytes, **settings)
    parts = split.ranges(str(path), path.stat().st_size)
    got = []
    for part in parts:
        got += list(split.read_counted(str(path), part))
    return docs, whole.ledger, got, split.ledger, parts


def _same(docs, ledger, got, split_ledger):
    assert [(d.id, d.text, d.meta) for d in got] == [(d.id, d.text, d.meta) for d in docs]
    assert (split_ledger.docs_in, split_ledger.docs_out, dict(split_ledger.dropped)) == (
        ledger.docs_in,
        ledger.docs_out,
        dict(ledger.dropped),
    )
    assert split_ledger.balanced


@pytest.mark.parametrize("compressed", [True, False])
def test_warc_parts_read_every_record_once_damage_included(tmp_path, compressed):
    members = _members(Path(wrap_pages_as_warc(_pages(60), tmp_path / "w.warc.gz")).read_bytes())
    texts = [gzip.decompress(m) for m in members]
    # damage spread over the file: a corrupt member, a broken header, a record cut short
    texts[17] = texts[17].replace(b"WARC-Type: response", b"WARC-Type response", 1)
    blob = [gzip.compress(t) if compressed else t for t in texts]
    if compressed:
        blob[33] = blob[33][:20] + b"\x00" * 30 + blob[33][50:]
    else:
        k = blob[33].index(b"<html")
        blob[33] = blob[33][: k + 10]
    path = tmp_path / ("big.warc.gz" if compressed else "big.warc")
    path.write_bytes(b"".join(blob))
    docs, ledger, got, split_ledger, parts = _whole_and_parts(WarcReader, path, 1500)
    assert len(parts) > 10 and ledger.docs_in == 60 and len(docs) == 58 and ledger.docs_dropped == 2
    _same(docs, ledger, got, split_ledger)


def test_warc_parts_keep_the_crawl_name_from_warcinfo(tmp_path):
    path = Path(wrap_pages_as_warc(_pages(30), tmp_path / "noname.warc.gz"))
    docs, ledger, got, split_ledger, parts = _whole_and_parts(WarcReader, path, 2000)
    assert len(parts) > 5 and {d.meta.get("dump") for d in got} == {d.meta.get("dump") for d in docs}
    _same(docs, ledger, got, split_ledger)


def test_jsonl_parts_split_at_lines(tmp_path):
    lines = []
    for i in range(500):
        if i % 97 == 5:
            lines.append(b"not json at all")
        else:
            lines.append(json.dumps({"text": f"document {i} " + "x" * (i % 40)}).encode())
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs, ledger, got, split_ledger, parts = _whole_and_parts(JsonlReader, path, 1000)
    assert len(parts) > 10 and len(docs) == 494 and dict(ledger.dropped) == {"invalid_json": 6}
    _same(docs, ledger, got, split_ledger)  # derived ids (file and byte offset) agree too
    gz = tmp_path / "big.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert len(JsonlReader(paths=[str(gz)], task_bytes=1000).ranges(str(gz), gz.stat().st_size)) == 1


def test_parquet_parts_split_at_row_groups(tmp_path):
    docs = [Document(f"d{i}", f"text {i} " + "y" * (i % 50)) for i in range(3000)]
    table = storage.write_documents(str(tmp_path / "tmp.parquet"), docs)
    pq.write_table(pq.read_table(tmp_path / "tmp.parquet"), tmp_path / "big.parquet", row_group_size=200)
    assert table == 3000 and pq.ParquetFile(tmp_path / "big.parquet").num_row_groups == 15
    whole, ledger, got, split_ledger, parts = _whole_and_parts(ParquetReader, tmp_path / "big.parquet", 4000)
    assert len(parts) > 3 and len(whole) == 3000
    _same(whole, ledger, got, split_ledger)
    pq.write_table(pa.table({"content": ["x"] * 5000}), tmp_path / "bad.parquet", row_group_size=100)
    *_, bad_ledger, bad_parts = _whole_and_parts(ParquetReader, tmp_path / "bad.parquet", 2000)
    assert len(bad_parts) > 1 and dict(bad_ledger.dropped) == {"unreadable_file:no_text_column": 1}


@pytest.mark.slow
def test_split_runs_give_the_unsplit_output_with_stable_task_ids(tmp_path):
    members = _members(Path(wrap_pages_as_warc(_pages(40), tmp_path / "in" / "a.warc.gz")).read_bytes())
    (tmp_path / "in" / "b.warc.gz").write_bytes(b"".join(members[:5]))
    base = {
        "name": "split",
        "engine": {"type": "local", "workers": 1},
        "input": {"type": "warc", "paths": [str(tmp_path / "in" / "*.warc.gz")]},
        "stages": [{"type": "exact_dedup", "buckets": 2}],
    }
    whole = run_pipeline(validate_pipeline({**base, "output": str(tmp_path / "whole")}))
    split_cfg = validate_pipeline(
        {
            **base,
            "output": str(tmp_path / "split"),
            "engine": {"workers": 2},
            "input": {**base["input"], "task_bytes": 4000},
        }
    )
    tasks = plan_tasks(split_cfg)
    assert [t.task_id for t in tasks][:3] == ["00000-00000", "00000-00001", "00000-00002"]
    assert tasks[-1].task_id == "00001" and [t.task_id for t in plan_tasks(split_cfg)] == [t.task_id for t in tasks]
    split = run_pipeline(split_cfg)
    assert len(list((tmp_path / "split" / "data").glob("*.parquet"))) == len(tasks) > 4
    assert [(d.id, d.text) for d in iter_output(split.output)] == [(d.id, d.text) for d in iter_output(whole.output)]
    assert [s.to_dict()["dropped"] for s in split.stages] == [s.to_dict()["dropped"] for s in whole.stages]
