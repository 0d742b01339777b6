"""Read documents from Parquet: an earlier run's output (the core schema) and peers' files.

Columns are mapped per file, from what the file holds:
- the core schema (`id`, `text`, `source`, `meta`, `annotations`) is read as written;
- datatrove's writer (`text`, `id`, `media`, `metadata`) and Dolma (`id`, `text`, `source`, `added`, `created`,
  `metadata`): the `metadata` keys the core schema knows become `meta`, the rest are left out;
- any other file with a text column (Hugging Face datasets: FineWeb, C4, The Stack exports ...): top-level
  columns the core schema knows (`url`, `language`, `language_score`, `dump`, ...) become `meta`.
A missing id is derived from the file and the row. A file without a text column, or one that cannot be read,
is one counted drop (`unreadable_file:<why>`) and the next file goes on; a row without usable text is a
counted drop too. A file larger than `task_bytes` runs as several tasks, each reading the row groups that
start in its byte range.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from corpusforge.core import storage
from corpusforge.core.document import ANNOTATION_FIELDS, META_FIELDS, SCHEMA, Document, from_table, make_id
from corpusforge.stages.base import WHOLE_FILE, ByteRange, Reader, StageConfig
from corpusforge.stages.io.ranges import DEFAULT_TASK_BYTES, fixed_ranges


class ParquetReader(Reader):
    """Streams documents from Parquet files (core schema or a peer's), one row group at a time."""

    type = "parquet"
    config: Config

    class Config(StageConfig):
        paths: list[str]
        source: str = "web"  # the documents' source kind when the file has no `source` column
        text_field: str = "text"
        id_field: str = "id"  # a file without it gets ids derived from file and row
        # Files larger than this run as several tasks (row groups by byte range): bounded, parallel, resumable.
        task_bytes: int = Field(DEFAULT_TASK_BYTES, ge=1)

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}

    def ranges(self, path: str, size: int) -> list[ByteRange]:
        return fixed_ranges(size, self.config.task_bytes)

    def read(self, path: str) -> Iterator[Document]:
        return self.read_range(path, WHOLE_FILE)

    def read_range(self, path: str, part: ByteRange) -> Iterator[Document]:
        try:
            f = storage.open_file(path, "rb")
            pf = pq.ParquetFile(f)
        except Exception as e:  # any unreadable file is a counted drop, not a crash
            if part.holds(0):  # counted once, by the part the file starts in
                self._unreadable(type(e).__name__)
            return
        with f:
            mapping = _Mapping.of(pf.schema_arrow, self.config)
            if isinstance(mapping, str):
                if part.holds(0):
                    self._unreadable(mapping)
                return
            first_row = 0
            for i in range(pf.num_row_groups):
                rows = pf.metadata.row_group(i).num_rows
                if part.whole or part.holds(_group_start(pf.metadata, i)):
                    try:
                        table = pf.read_row_group(i, columns=mapping.columns)
                    except Exception as e:  # a damaged row group ends this part, counted
                        self._unreadable(f"row_group_{type(e).__name__}")
                        return
                    yield from mapping.documents(self, table, path, first_row)
                first_row += rows

    def _unreadable(self, why: str) -> None:
        self.seen()
        self.drop_record(f"unreadable_file:{why}")


def _group_start(meta: pq.FileMetaData, i: int) -> int:
    """The byte offset where row group `i` starts (its first column chunk)."""
    col = meta.row_group(i).column(0)
    return int(col.dictionary_page_offset or col.data_page_offset)


class _Mapping:
    """How one file's columns become documents."""

    def __init__(
        self,
        config: ParquetReader.Config,
        columns: list[str],
        core: bool,
        text_type: pa.DataType,
        meta_columns: list[str],
        metadata: str | None,
        source: bool,
    ):
        self.config, self.columns, self.core = config, columns, core
        self.text_binary = pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)
        self.meta_columns, self.metadata, self.source = meta_columns, metadata, source

    @classmethod
    def of(cls, schema: pa.Schema, config: ParquetReader.Config) -> _Mapping | str:
        """The mapping of a file's schema, or why the file cannot give documents."""
        names = schema.names
        if config.text_field not in names:
            return "no_text_column"
        text_type = schema.field(config.text_field).type
        if not (
            pa.types.is_string(text_type)
            or pa.types.is_large_string(text_type)
            or pa.types.is_binary(text_type)
            or pa.types.is_large_binary(text_type)
        ):
            return "text_column_type"
        if _is_core(schema) and config.text_field == "text" and config.id_field == "id":
            return cls(config, [n for n in SCHEMA.names if n in names], True, text_type, [], None, True)
        meta_columns = [n for n in names if n in META_FIELDS and _scalar(schema.field(n).type)]
        metadata = next((n for n in ("metadata", "meta") if n in names and _mapping_type(schema.field(n).type)), None)
        source = "source" in names and pa.types.is_string(schema.field("source").type)
        columns = [config.text_field] + [c for c in (config.id_field,) if c in names] + meta_columns
        columns += [metadata] if metadata else []
        columns += ["source"] if source else []
        return cls(config, list(dict.fromkeys(columns)), False, text_type, meta_columns, metadata, source)

    def documents(self, reader: ParquetReader, table: pa.Table, path: str, first_row: int) -> Iterator[Document]:
        if self.core and not self.text_binary:
            for doc in from_table(table):
                reader.seen(len(doc.text.encode("utf-8", "surrogatepass")))
                yield doc
            return
        cfg = self.config
        texts = table.column(cfg.text_field).to_pylist()
        ids = table.column(cfg.id_field).to_pylist() if cfg.id_field in table.column_names else [None] * len(texts)
        sources = table.column("source").to_pylist() if self.source else [None] * len(texts)
        metadata = table.column(self.metadata).to_pylist() if self.metadata else [None] * len(texts)
        extra = {c: table.column(c).to_pylist() for c in self.meta_columns}
        for i, text in enumerate(texts):
            if isinstance(text, bytes):
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError:
                    reader.seen(len(text))
                    reader.drop_record("undecodable_text", len(text))
                    continue
            if not isinstance(text, str):
                reader.seen()
                reader.drop_record("missing_text")
                continue
            nbytes = len(text.encode("utf-8", "surrogatepass"))
            reader.seen(nbytes)
            if not text.strip():
                reader.drop_record("empty_text", nbytes)
                continue
            source = sources[i] or cfg.source
            doc_id = str(ids[i]) if ids[i] is not None else make_id(source, f"{path}#{first_row + i}")
            meta = _known_meta(_as_dict(metadata[i]))
            meta.update(_known_meta({c: v[i] for c, v in extra.items()}))
            yield Document(doc_id, text, source, meta)


def _is_core(schema: pa.Schema) -> bool:
    names = set(schema.names)
    if not {"id", "text"} <= names or not names <= set(SCHEMA.names):
        return False
    for name, known in (("meta", META_FIELDS), ("annotations", ANNOTATION_FIELDS)):
        if name in names:
            t = schema.field(name).type
            if not pa.types.is_struct(t) or any(t.field(i).name not in known for i in range(t.num_fields)):
                return False
    return pa.types.is_string(schema.field("id").type)


def _scalar(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_floating(t) or pa.types.is_integer(t)


def _mapping_type(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_string(t) or pa.types.is_large_string(t)


def _as_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):  # a map column reads as (key, value) pairs
        return dict(value)
    if isinstance(value, str):  # some writers store metadata as a JSON string
        try:
            import orjson

            parsed = orjson.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _known_meta(values: dict) -> dict:
    """The keys the core schema knows, with values of its types (others are left out, never a write error)."""
    out: dict[str, str | float] = {}
    for k, v in values.items():
        t = META_FIELDS.get(k)
        if t is None or v is None:
            continue
        if pa.types.is_floating(t):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = float(v)
        elif isinstance(v, str):
            out[k] = v
    return out
