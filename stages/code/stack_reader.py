"""Read tabular code datasets in The Stack's shape (Parquet or JSONL rows of content, path, repo, license).

Field names default to The Stack v2's (`content`, `path`, `repo_name`, `detected_licenses`,
`license_type`, `star_events_count`, `language`, `revision_id`); The Stack v1's (`max_stars_repo_path`,
`max_stars_repo_name`, `max_stars_repo_licenses`, `max_stars_count`, `lang`, `hexsha`) are read when
those are absent. A row without text, a row whose text is not a string and an unreadable file are each
counted under a reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import orjson
import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import Reader, StageConfig

# (The Stack v2 name, The Stack v1 fallbacks)
FIELDS = {
    "text": ("content",),
    "path": ("path", "max_stars_repo_path"),
    "repo": ("repo_name", "max_stars_repo_name"),
    "licenses": ("detected_licenses", "max_stars_repo_licenses", "licenses", "license"),
    "stars": ("star_events_count", "max_stars_count", "stars"),
    "language": ("language", "lang"),
    "commit": ("revision_id", "hexsha", "commit"),
    "id": ("blob_id", "id"),
}


def _first(row: dict, names: tuple[str, ...]) -> Any:
    for n in names:
        if row.get(n) is not None:
            return row[n]
    return None


class StackRowsReader(Reader):
    """One document per row of a The Stack-shaped Parquet or JSONL(.gz/.zst) file."""

    type = "stack_rows"
    config: Config

    class Config(StageConfig):
        paths: list[str]
        source: str = "code"
        format: Literal["infer", "parquet", "jsonl"] = "infer"
        text_field: str | None = None  # default: content
        batch_rows: int = 1024

    def read(self, path: str) -> Iterator[Document]:
        fmt = self.config.format
        if fmt == "infer":
            fmt = "parquet" if path.endswith(".parquet") else "jsonl"
        try:
            rows = self._parquet(path) if fmt == "parquet" else self._jsonl(path)
            for row_no, row in rows:
                doc = self._document(row, path, row_no)
                if doc is not None:
                    yield doc
        except (OSError, EOFError, ValueError) as e:  # unreadable or truncated file: the rest is one counted loss
            self.seen()
            self.drop_record(f"unreadable_file:{type(e).__name__}")

    def _parquet(self, path: str) -> Iterator[tuple[int, dict]]:
        with storage.open_file(path, "rb") as f:
            pf = pq.ParquetFile(f)
            n = 0
            for batch in pf.iter_batches(batch_size=self.config.batch_rows):
                for row in batch.to_pylist():
                    yield n, row
                    n += 1

    def _jsonl(self, path: str) -> Iterator[tuple[int, dict]]:
        with storage.open_file(path, "rb", compression="infer") as f:
            for n, line in enumerate(f):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    row = None
                yield n, row if isinstance(row, dict) else {"__invalid__": len(line)}

    def _document(self, row: dict, path: str, row_no: int) -> Document | None:
        if "__invalid__" in row:
            self.seen(row["__invalid__"])
            self.drop_record("invalid_json", row["__invalid__"])
            return None
        names = (self.config.text_field,) if self.config.text_field else FIELDS["text"]
        text = _first(row, names)
        self.seen(len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0)
        if not isinstance(text, str):
            self.drop_record("missing_text")
            return None
        if not text.strip():
            self.drop_record("empty_file")
            return None
        meta: dict[str, Any] = {"size": len(text.encode("utf-8", "surrogatepass"))}
        for key, field in (("path", "path"), ("repo", "repo"), ("language", "language"), ("commit", "commit")):
            value = _first(row, FIELDS[field])
            if value is not None:
                meta[key] = str(value)
        licenses = _first(row, FIELDS["licenses"])
        if isinstance(licenses, str):
            licenses = [licenses]
        if licenses:
            meta["license"] = " AND ".join(sorted({str(x) for x in licenses}))
        stars = _first(row, FIELDS["stars"])
        if isinstance(stars, (int, float)):
            meta["repo_stars"] = int(stars)
        raw_id = _first(row, FIELDS["id"])
        locator = str(raw_id) if raw_id is not None else f"{path}:{row_no}"
        return Document(make_id(self.config.source, locator), text, self.config.source, meta)
