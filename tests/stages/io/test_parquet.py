"""Parquet input: our own schema, peers' schemas (datatrove, Dolma, HF datasets), and files that fit none."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.stages.io.parquet import ParquetReader


def _read(path, **settings) -> tuple[ParquetReader, list[Document]]:
    reader = ParquetReader(paths=[str(path)], **settings)
    docs = list(reader.read_counted(str(path)))
    assert reader.ledger.balanced
    return reader, docs


def test_core_schema_round_trips(tmp_path):
    docs = [
        Document("a", "first", "code", {"url": "u", "language": "en"}, {"quality_tier": "high"}),
        Document("b", "second"),
    ]
    storage.write_documents(str(tmp_path / "core.parquet"), docs)
    reader, back = _read(tmp_path / "core.parquet")
    assert [(d.id, d.text, d.source, d.meta, d.annotations) for d in back] == [
        (d.id, d.text, d.source, d.meta, d.annotations) for d in docs
    ]


def test_datatrove_writer_output_is_mapped(tmp_path):
    from datatrove.data import Document as DtDocument
    from datatrove.pipeline.writers import ParquetWriter

    dt_docs = [
        DtDocument(
            text=f"page {i}",
            id=f"dt-{i}",
            metadata={
                "url": f"https://x.test/{i}",
                "language": "en",
                "language_score": 0.9,
                "dump": "CC-MAIN-2024-10",
                "token_count": 12,
                "file_path": "s3://cc/x",
            },
        )
        for i in range(3)
    ]
    with ParquetWriter(str(tmp_path / "dt"), output_filename="out_${rank}.parquet") as writer:
        for d in dt_docs:
            writer.write(d)
    (written,) = (tmp_path / "dt").glob("*.parquet")
    reader, docs = _read(written, source="web")
    assert [d.id for d in docs] == ["dt-0", "dt-1", "dt-2"] and docs[2].text == "page 2"
    assert docs[0].meta == {
        "url": "https://x.test/0",
        "language": "en",
        "language_score": 0.9,
        "dump": "CC-MAIN-2024-10",
    }  # keys outside the core schema are left out
    assert reader.ledger.docs_out == 3 and not reader.ledger.dropped


def test_dolma_and_hf_datasets_files_are_mapped(tmp_path):
    dolma = pa.table(
        {
            "id": ["d1", "d2"],
            "text": ["dolma one", "dolma two"],
            "source": ["common-crawl", None],
            "added": ["2024-01-01", "2024-01-01"],
            "metadata": [{"url": "https://d.test/1", "lang": "en"}, None],
        }
    )
    pq.write_table(dolma, tmp_path / "dolma.parquet")
    _, docs = _read(tmp_path / "dolma.parquet", source="web")
    assert [(d.id, d.source, d.meta) for d in docs] == [
        ("d1", "common-crawl", {"url": "https://d.test/1"}),
        ("d2", "web", {}),
    ]
    # a Hugging Face dataset: a text column, others at the top level, no id
    hf = pa.table(
        {
            "text": ["fineweb page", None, "  ", "another"],
            "url": ["https://f.test/a", "u", "u", None],
            "language_score": [0.93, 0.5, 0.5, 0.7],
            "token_count": [3, 0, 0, 1],
        }
    )
    pq.write_table(hf, tmp_path / "hf.parquet")
    reader, docs = _read(tmp_path / "hf.parquet", source="web")
    assert [d.text for d in docs] == ["fineweb page", "another"]
    assert docs[0].meta == {"url": "https://f.test/a", "language_score": 0.93}
    assert docs[1].meta == {"language_score": 0.7}
    assert docs[0].id.startswith("web-") and docs[0].id != docs[1].id
    assert _read(tmp_path / "hf.parquet", source="web")[1][1].id == docs[1].id  # derived ids are stable
    assert dict(reader.ledger.dropped) == {"missing_text": 1, "empty_text": 1} and reader.ledger.docs_in == 4


def test_bytes_text_and_numeric_ids_are_read(tmp_path):
    table = pa.table({"id": [7, 8, 9], "text": [b"caf\xc3\xa9", b"\xff\xfe broken", b"plain"]})
    pq.write_table(table, tmp_path / "bytes.parquet")
    reader, docs = _read(tmp_path / "bytes.parquet")
    assert [(d.id, d.text) for d in docs] == [("7", "café"), ("9", "plain")]
    assert dict(reader.ledger.dropped) == {"undecodable_text": 1}


def test_files_of_no_known_schema_are_counted_and_the_good_ones_read(tmp_path):
    storage.write_documents(str(tmp_path / "in" / "0-good.parquet"), [Document(f"g{i}", f"good {i}") for i in range(4)])
    pq.write_table(pa.table({"content": ["no text column"]}), tmp_path / "in" / "1-content.parquet")
    pq.write_table(pa.table({"id": ["x"], "text": [3]}), tmp_path / "in" / "2-int-text.parquet")
    (tmp_path / "in" / "3-garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    storage.write_documents(str(tmp_path / "in" / "4-good.parquet"), [Document("h", "good too")])
    config = {
        "name": "mixed",
        "output": str(tmp_path / "out"),
        "engine": {"type": "local", "workers": 1},
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [],
    }
    result = run_pipeline(validate_pipeline(config))
    assert sorted(d.id for d in iter_output(result.output)) == ["g0", "g1", "g2", "g3", "h"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    reader = stats["stages"][0]
    assert stats["balanced"] and reader["docs_in"] == 8 and reader["docs_out"] == 5
    assert reader["dropped"] == {
        "unreadable_file:ArrowInvalid": 1,
        "unreadable_file:no_text_column": 1,
        "unreadable_file:text_column_type": 1,
    }
