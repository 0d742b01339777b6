"""Read JSONL(.gz/.zst) documents from peers (datatrove, Dolma, The Stack exports, math sets)."""
from __future__ import annotations

from typing import Iterator, Literal

import orjson

from corpusforge.core import storage
from corpusforge.core.document import META_FIELDS, Document, make_id
from corpusforge.stages.base import Reader, StageConfig


class JsonlReader(Reader):
    """One document per JSON line; bad lines are counted drops, never crashes."""

    type = "jsonl"
    config: Config

    class Config(StageConfig):
        paths: list[str]

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}
        source: str = "web"          # the documents' source kind: web, code, math, synthetic, ...
        text_field: str = "text"
        id_field: str | None = "id"  # None: derive a stable id from file and line number
        compression: Literal["infer", "gzip", "zstd", "none"] = "infer"

    def read(self, path: str) -> Iterator[Document]:
        cfg = self.config
        compression = None if cfg.compression == "none" else cfg.compression
        try:
            f = storage.open_file(path, "rb", compression=compression)
        except Exception as e:  # noqa: BLE001 - a missing or unreadable file is a counted drop
            self.seen()
            self.drop_record(f"unreadable_file:{type(e).__name__}")
            return
        line_no = 0
        with f:
            try:
                for line_no, line in enumerate(f, 1):
                    if doc := self._parse(line, path, line_no):
                        yield doc
            except (OSError, EOFError, ValueError) as e:  # truncated gzip/zstd stream mid-file
                self.seen()
                self.drop_record(f"corrupt_compression:{type(e).__name__}")

    def _parse(self, line: bytes, path: str, line_no: int) -> Document | None:
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
        doc_id = str(raw_id) if raw_id is not None else make_id(self.config.source, f"{path}:{line_no}")
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        meta = {k: v for k, v in meta.items() if k in META_FIELDS and v is not None}
        return Document(doc_id, text, self.config.source, meta)
