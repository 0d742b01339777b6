"""Read JSONL(.gz/.zst) documents from peers (datatrove, Dolma, The Stack exports, math sets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import orjson
from pydantic import Field

from corpusforge.core import storage
from corpusforge.core.document import META_FIELDS, Document, make_id
from corpusforge.stages.base import WHOLE_FILE, ByteRange, Reader, StageConfig
from corpusforge.stages.io.ranges import DEFAULT_TASK_BYTES, fixed_ranges


class JsonlReader(Reader):
    """One document per JSON line; bad lines are counted drops, never crashes.

    An uncompressed file larger than `task_bytes` runs as several tasks, split at line boundaries
    (a compressed stream can only be read from its start, so it stays one task).
    """

    type = "jsonl"
    config: Config

    class Config(StageConfig):
        paths: list[str]
        source: str = "web"  # the documents' source kind: web, code, math, synthetic, ...
        text_field: str = "text"
        id_field: str | None = "id"  # None: derive a stable id from the file and the line's byte offset
        compression: Literal["infer", "gzip", "zstd", "none"] = "infer"
        # Uncompressed files larger than this run as several tasks (whole lines): bounded, parallel, resumable.
        task_bytes: int = Field(DEFAULT_TASK_BYTES, ge=1)

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}

    def _compression(self, path: str) -> str | None:
        c = self.config.compression
        if c == "infer":
            from fsspec.utils import infer_compression

            return infer_compression(path)
        return None if c == "none" else c

    def ranges(self, path: str, size: int) -> list[ByteRange]:
        if self._compression(path):
            return [WHOLE_FILE]
        return fixed_ranges(size, self.config.task_bytes)

    def read(self, path: str) -> Iterator[Document]:
        return self.read_range(path, WHOLE_FILE)

    def read_range(self, path: str, part: ByteRange) -> Iterator[Document]:
        try:
            f = storage.open_file(path, "rb", compression=self._compression(path))
        except Exception as e:  # a missing or unreadable file is a counted drop
            if part.holds(0):
                self.seen()
                self.drop_record(f"unreadable_file:{type(e).__name__}")
            return
        with f:
            offset = part.start
            try:
                if offset > 0:
                    # The line that straddles the start belongs to the part before: skip to the byte after
                    # its newline (reading from start - 1 keeps a line that begins exactly at start).
                    f.seek(offset - 1)
                    offset += len(f.readline()) - 1
                while part.end is None or offset < part.end:
                    line = f.readline()
                    if not line:
                        break
                    if doc := self._parse(line, path, offset):
                        yield doc
                    offset += len(line)
            except (OSError, EOFError, ValueError) as e:  # truncated gzip/zstd stream mid-file
                self.seen()
                self.drop_record(f"corrupt_compression:{type(e).__name__}")

    def _parse(self, line: bytes, path: str, offset: int) -> Document | None:
        if not line.strip():
            return None
        self.seen(len(line))
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.drop_record("invalid_json", len(line))
            return None
        text = row.get(self.config.text_field) if isinstance(row, dict) else None
        if not isinstance(text, str):
            self.drop_record("missing_text", len(line))
            return None
        if not text.strip():
            self.drop_record("empty_text", len(line))
            return None
        raw_id = row.get(self.config.id_field) if self.config.id_field else None
        doc_id = str(raw_id) if raw_id is not None else make_id(self.config.source, f"{path}@{offset}")
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        meta = {k: v for k, v in meta.items() if k in META_FIELDS and v is not None}
        return Document(doc_id, text, self.config.source, meta)
