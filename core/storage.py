"""Storage through fsspec: local paths and s3:// (s3fs) go through the same calls."""
from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from typing import IO, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.document import Document, from_table, to_table


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for `path` and the path as that filesystem names it."""
    return fsspec.core.url_to_fs(path, **_options(path))


def _options(path: str) -> dict:
    # Endpoint, keys and region come from the usual AWS variables; an explicit endpoint
    # (MinIO, moto, Ceph) from CORPUSFORGE_S3_ENDPOINT so on-prem stores need no code change.
    if path.startswith("s3://") and os.environ.get("CORPUSFORGE_S3_ENDPOINT"):
        return {"client_kwargs": {"endpoint_url": os.environ["CORPUSFORGE_S3_ENDPOINT"]}}
    return {}


def join(base: str, *parts: str) -> str:
    """Join path parts with '/', keeping any protocol prefix."""
    out = base.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def protocol_path(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """Re-attach the protocol that fsspec strips (s3fs names paths 'bucket/key')."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if proto in ("file", "local") else f"{proto}://{path}"


def expand(patterns: list[str]) -> list[str]:
    """Glob patterns to a sorted, de-duplicated list of files (with protocols kept)."""
    found: set[str] = set()
    for pattern in patterns:
        fs, p = filesystem(pattern)
        matches = fs.glob(p) if any(c in p for c in "*?[") else ([p] if fs.exists(p) else [])
        found.update(protocol_path(fs, m) for m in matches if fs.isfile(m))
    return sorted(found)


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return fs.exists(p)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    fs.makedirs(p, exist_ok=True)


def open_file(path: str, mode: str = "rb", **kwargs) -> IO:
    """Open a file on any filesystem (compression='infer' is the caller's choice)."""
    return fsspec.open(path, mode, **_options(path), **kwargs).open()


def read_bytes(path: str) -> bytes:
    fs, p = filesystem(path)
    return fs.cat_file(p)


def remove(path: str, recursive: bool = False) -> None:
    fs, p = filesystem(path)
    if fs.exists(p):
        fs.rm(p, recursive=recursive)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary name and commit by rename, so readers never see half a file.

    On object stores a PUT is already atomic, so the object is written under its final key.
    """
    fs, p = filesystem(path)
    parent = p.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if not is_local(fs):
        with fs.open(p, mode) as f:
            yield f
        return
    tmp = temp_name(p)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def temp_name(path: str) -> str:
    """A writer's private temporary name for `path` (`<path>.tmp-<random>`), renamed into place on commit."""
    return f"{path}.tmp-{uuid.uuid4().hex[:8]}"


def remove_stale_temps(path: str) -> None:
    """Delete temporaries a killed writer of `path` left behind (they never hold committed data)."""
    fs, p = filesystem(path)
    if is_local(fs):
        for tmp in fs.glob(f"{p}.tmp-*"):
            fs.rm(tmp)


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether `fs` is the local filesystem (temporaries and renames) rather than an object store (atomic PUTs)."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return proto in ("file", "local")


_is_local = is_local  # the name other modules used before it became public


def write_text(path: str, text: str) -> None:
    with atomic_write(path, "wb") as f:
        f.write(text.encode())


def read_text(path: str) -> str:
    return read_bytes(path).decode()


def write_parquet(path: str, table: pa.Table) -> None:
    """Write an Arrow table atomically as Parquet (zstd)."""
    with atomic_write(path, "wb") as f:
        pq.write_table(table, f, compression="zstd")


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    with open_file(path, "rb") as f:
        return pq.read_table(f, columns=columns)


def write_documents(path: str, docs: list[Document] | Iterator[Document]) -> int:
    """Write documents as one Parquet file; returns the count."""
    table = to_table(docs)
    write_parquet(path, table)
    return table.num_rows


def read_documents(path: str) -> Iterator[Document]:
    """Stream documents from a Parquet file, one row group at a time (bounded memory)."""
    with open_file(path, "rb") as f:
        pf = pq.ParquetFile(f)
        for i in range(pf.num_row_groups):
            yield from from_table(pf.read_row_group(i))


def checksum(path: str) -> tuple[int, str]:
    """Size and sha256 of a file."""
    h = hashlib.sha256()
    size = 0
    with open_file(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()
