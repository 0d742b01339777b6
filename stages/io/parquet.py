"""Read documents written by an earlier run (Parquet in the core schema)."""
from __future__ import annotations

from typing import Iterator

import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.document import Document, from_table
from corpusforge.stages.base import Reader, StageConfig


class ParquetReader(Reader):
    """Streams documents from Parquet files in the core schema, one row group at a time."""

    type = "parquet"
    config: Config

    class Config(StageConfig):
        paths: list[str]

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}

    def read(self, path: str) -> Iterator[Document]:
        try:
            f = storage.open_file(path, "rb")
            pf = pq.ParquetFile(f)
        except Exception as e:  # noqa: BLE001 - any unreadable file is a counted drop, not a crash
            self.seen()
            self.drop_record(f"unreadable_file:{type(e).__name__}")
            return
        with f:
            for i in range(pf.num_row_groups):
                for doc in from_table(pf.read_row_group(i)):
                    self.seen(len(doc.text.encode("utf-8", "surrogatepass")))
                    yield doc
