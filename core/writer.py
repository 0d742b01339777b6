"""Streaming, atomic Parquet output of documents: bounded memory, committed by rename."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.document import SCHEMA, Document, to_table


class DocumentWriter:
    """Writes documents in row groups of `batch` to `path`; the file appears only on close."""

    def __init__(self, path: str, batch: int = 2000):
        self.path, self.batch = path, batch
        self.count = 0
        self._buffer: list[Document] = []

    def __enter__(self) -> DocumentWriter:
        self._file_cm = storage.atomic_write(self.path, "wb")
        self._file = self._file_cm.__enter__()
        self._writer = pq.ParquetWriter(self._file, SCHEMA, compression="zstd")
        return self

    def write(self, doc: Document) -> None:
        self._buffer.append(doc)
        if len(self._buffer) >= self.batch:
            self._flush()

    def write_all(self, docs: Iterable[Document]) -> int:
        for doc in docs:
            self.write(doc)
        return self.count

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(to_table(self._buffer))
            self.count += len(self._buffer)
            self._buffer = []

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._flush()
            self._writer.close()
        finally:
            self._file_cm.__exit__(exc_type, exc, tb)
