"""Storage through fsspec: local paths and s3:// (s3fs) go through the same calls.

Calls to an object store that fail on the network (refused or reset connections, timeouts, 5xx, `SlowDown`)
are retried with exponential backoff and full jitter for `CORPUSFORGE_STORAGE_RETRY_S` seconds (default 300);
then `StorageUnavailable` says in one line what failed, and rerunning the command resumes the run.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import logging
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar, cast

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.document import Document, from_table, to_table

log = logging.getLogger(__name__)
T = TypeVar("T")
# Backoff between retries: full jitter over an exponential ceiling (AWS's recommended scheme), capped.
RETRY_BASE_S = 0.5
RETRY_CAP_S = 30.0
# Error codes of an object store that say "try again", not "this request is wrong".
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "503",
        "500",
        "502",
        "504",
    }
)


class StorageUnavailable(RuntimeError):
    """The object store stayed unreachable for the whole retry budget."""


def retry_seconds() -> float:
    """How long a failing storage call is retried (`CORPUSFORGE_STORAGE_RETRY_S`, default 300 s)."""
    return float(os.environ.get("CORPUSFORGE_STORAGE_RETRY_S", 300))


def transient(e: BaseException) -> bool:
    """Whether a storage error is worth retrying: connection trouble, timeouts, 5xx, throttling."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        e = cur
        seen.add(id(e))
        if isinstance(e, (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError)):
            return False
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        name = type(e).__name__
        if name in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "HTTPClientError",
            "ConnectionClosedError",
            "ProxyConnectionError",
            "ClientConnectorError",
            "ClientOSError",
            "ServerDisconnectedError",
            "ClientPayloadError",
            "FSTimeoutError",
            "IncompleteRead",
            "ResponseParserError",
        ):
            return True
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _TRANSIENT_CODES or int(status) >= 500:
                return True
        if isinstance(e, OSError) and e.errno == errno.EBUSY:  # s3fs's translation of SlowDown / 503
            return True
        cur = e.__cause__ or e.__context__
    return False


def retrying(what: str, path: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, retried on transient storage errors until the retry budget is spent."""
    budget = retry_seconds()
    deadline = time.monotonic() + budget
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if not transient(e):
                raise
            left = deadline - time.monotonic()
            if attempt == 0:
                log.warning(
                    "storage: %s %s failed (%s); retrying for up to %.0f s", what, path, type(e).__name__, budget
                )
            if left <= 0:
                raise StorageUnavailable(
                    f"storage unreachable: {what} {path} kept failing for {budget:.0f} s "
                    f"({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}); "
                    f"the committed work is kept: rerun the same command to resume"
                ) from e
            time.sleep(min(left, random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt))))
            attempt += 1


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for `path` and the path as that filesystem names it."""
    return fsspec.core.url_to_fs(path, **_options(path))


def _options(path: str) -> dict:
    # Endpoint, keys and region come from the usual AWS variables; an explicit endpoint
    # (MinIO, moto, Ceph) from CORPUSFORGE_S3_ENDPOINT so on-prem stores need no code change.
    if not path.startswith("s3://"):
        return {}
    # botocore retries a few times itself (standard mode: jittered backoff, SlowDown and 5xx included);
    # longer outages are `retrying`'s, with its time budget.
    options: dict = {"config_kwargs": {"retries": {"mode": "standard", "max_attempts": 3}}}
    if os.environ.get("CORPUSFORGE_S3_ENDPOINT"):
        options["client_kwargs"] = {"endpoint_url": os.environ["CORPUSFORGE_S3_ENDPOINT"]}
    return options


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

        def match(fs=fs, p=p) -> list[str]:
            matches = fs.glob(p) if any(c in p for c in "*?[") else ([p] if fs.exists(p) else [])
            return [protocol_path(fs, m) for m in matches if fs.isfile(m)]

        found.update(_call(fs, "list", pattern, match))
    return sorted(found)


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return _call(fs, "check", path, fs.exists, p)


def size(path: str) -> int:
    fs, p = filesystem(path)
    return _call(fs, "stat", path, fs.size, p)


def info(path: str) -> dict:
    fs, p = filesystem(path)
    return _call(fs, "stat", path, fs.info, p)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    _call(fs, "create folder", path, fs.makedirs, p, exist_ok=True)


def open_file(path: str, mode: str = "rb", compression: str | None = None, **kwargs) -> IO:
    """Open a file on any filesystem (compression='infer' is the caller's choice).

    A file read from an object store retries its reads like every other storage call.
    """
    fs, p = filesystem(path)
    if is_local(fs) or "r" not in mode or "b" not in mode:
        return fsspec.open(path, mode, compression=compression, **_options(path), **kwargs).open()
    raw = cast(IO, _RetryingReader(_call(fs, "open", path, fs.open, p, mode, **kwargs), path))
    if compression == "infer":
        compression = fsspec.utils.infer_compression(path)
    if not compression:
        return raw
    return cast(IO, _Closing(fsspec.compression.compr[compression](raw, mode="rb"), raw))


def read_bytes(path: str) -> bytes:
    fs, p = filesystem(path)
    return _call(fs, "read", path, fs.cat_file, p)


def remove(path: str, recursive: bool = False) -> None:
    fs, p = filesystem(path)

    def rm() -> None:
        if fs.exists(p):
            fs.rm(p, recursive=recursive)

    _call(fs, "delete", path, rm)


def _call(fs: fsspec.AbstractFileSystem, what: str, path: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A storage call: retried on an object store, direct on the local filesystem."""
    if is_local(fs):
        return fn(*args, **kwargs)
    return retrying(what, path, fn, *args, **kwargs)


class _RetryingReader:
    """A remote file whose reads are retried (a failed read leaves the position where it was)."""

    def __init__(self, f: IO, path: str):
        self._f, self._path = f, path

    def read(self, n: int = -1) -> bytes:
        return retrying("read", self._path, self._f.read, n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        return retrying("read", self._path, self._f.readline, limit)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def __enter__(self) -> _RetryingReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


class _Closing:
    """A decompressing wrapper that also closes the file under it."""

    def __init__(self, f: IO, inner: IO):
        self._f, self._inner = f, inner

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            self._inner.close()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._f)

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary name and commit by rename, so readers never see half a file.

    On object stores a PUT is already atomic: the bytes are spooled locally (memory, then a temporary file)
    and uploaded under the final key when the writer closes, so an upload that fails is retried whole.
    """
    fs, p = filesystem(path)
    if not is_local(fs):
        with tempfile.SpooledTemporaryFile(max_size=64 << 20, mode="w+b") as spool:
            yield spool
            spool.flush()

            def upload() -> None:
                spool.seek(0)
                with fs.open(p, "wb") as out:
                    shutil.copyfileobj(spool, out, 8 << 20)

            retrying("write", path, upload)
        return
    parent = p.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
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


def sweep_temps(prefix: str) -> int:
    """Delete every temporary that killed writers left under a local `prefix`; returns how many.

    Only the holder of the prefix's lease may call this: any temporary there belongs to a dead writer. On an
    object store the temporaries are the unfinished multipart uploads of writers killed mid-upload: invisible
    to readers, but stored (and billed) until aborted.
    """
    fs, p = filesystem(prefix)
    if not is_local(fs):
        return abort_stale_uploads(fs, p)
    if not os.path.isdir(p):
        return 0
    removed = 0
    for folder, _, names in os.walk(p):
        for name in names:
            # the lease's own temporary belongs to a run taking the lease right now
            if ".tmp-" in name and not name.startswith("lease.json"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, name))
                    removed += 1
    return removed


def abort_stale_uploads(fs: fsspec.AbstractFileSystem, prefix: str) -> int:
    """Abort the multipart uploads under an object-store prefix begun before this call; returns how many."""
    if not hasattr(fs, "call_s3"):
        return 0
    bucket, _, key = prefix.partition("/")
    key = key.rstrip("/") + "/" if key else ""
    started = datetime.datetime.now(datetime.UTC)
    aborted = 0
    marker: dict[str, str] = {}
    while True:
        page = retrying("list", prefix, fs.call_s3, "list_multipart_uploads", Bucket=bucket, Prefix=key, **marker)
        for upload in page.get("Uploads", []):
            # an upload begun after the sweep started is not a dead writer's
            if upload.get("Initiated", started) < started:
                fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted += 1
        if not page.get("IsTruncated"):
            return aborted
        marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


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
