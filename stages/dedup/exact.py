"""Global exact deduplication: one copy of each (normalised) text across every shard.

A file shuffle (`core.shuffle`), so memory is bounded per task on every engine:
  prepare (per task)   hash each document, write (hash, id, position) rows into bucket files
                       `<workdir>/hashes/part=<bucket>/<task>.parquet`
  resolve (per bucket) read that bucket from every task, keep the smallest id of each hash,
                       write the rest to `<workdir>/drops/part=<task>/<bucket>.parquet`; each bucket
                       and then the step commit with a marker (`drops.done.json` holds the totals)
  apply (per task)     drop the listed documents with reason `exact_duplicate`
Which copy survives depends only on ids, never on the engine or the task split.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datatrove.utils.text import NUMBERS_PATTERN, PUNCTUATION_TRANS

from corpusforge.core import markers, shuffle, storage
from corpusforge.core.document import Document
from corpusforge.stages.base import GlobalStep, StageConfig

HASH_SCHEMA = pa.schema(
    [("h1", pa.uint64()), ("h2", pa.uint64()), ("id", pa.string()), ("ord", pa.int64()), ("nbytes", pa.int64())]
)
DROP_SCHEMA = pa.schema([("ord", pa.int64()), ("id", pa.string()), ("nbytes", pa.int64())])
# Rows buffered before they go to the bucket files: ~60 bytes each, so ~12 MB per task.
FLUSH_ROWS = 200_000
_MASK64 = (1 << 64) - 1


def normalize_text(text: str) -> str:
    """FineWeb's dedup normalisation (datatrove `simplify_text`: lowercase, digits->0, no
    punctuation, collapsed whitespace, no diacritics) after Unicode NFKC, so full-width and
    compatibility forms of the same text match."""
    if text.isascii():
        return _normalize_ascii(text).decode("ascii")
    return _normalize_unicode(text)


def _normalized_bytes(text: str) -> bytes:
    """`normalize_text(text)` as UTF-8, straight from bytes for ASCII text."""
    if text.isascii():
        return _normalize_ascii(text)
    return _normalize_unicode(text).encode("utf-8", "surrogatepass")


# ASCII text (most of the web) runs the same steps in the same order on bytes, ~3x faster: NFKC and the diacritics
# pass are no-ops there, datatrove's Unicode digit regex matches only [0-9], and its punctuation set holds every
# ASCII whitespace but space, tab and newline, the three bytes.split() and str.split() agree on.
_ASCII_NUMBERS = re.compile(rb"[0-9]+(?:[.,][0-9]+)?")
_ASCII_PUNCTUATION = bytes(PUNCTUATION_TRANS.get(b, b) if b < 128 else b for b in range(256))


def _normalize_ascii(text: str) -> bytes:
    data = _ASCII_NUMBERS.sub(b"0", text.encode("ascii").lower()).translate(_ASCII_PUNCTUATION)
    return b" ".join(data.split())


def _normalize_unicode(text: str) -> str:
    """`simplify_text(NFKC(text))` with its default settings, ~5x faster on non-ASCII text: the whitespace regex as
    str.split (the same Unicode whitespace) and the per-character diacritics loop as one translate."""
    text = NUMBERS_PATTERN.sub("0", unicodedata.normalize("NFKC", text).lower())
    text = " ".join(text.translate(PUNCTUATION_TRANS).split())
    return unicodedata.normalize("NFD", text).translate(_nonspacing_marks()).strip()


@functools.cache
def _nonspacing_marks() -> dict[int, None]:
    """A translate table deleting every code point of category Mn (by this Python's unicodedata, as datatrove's
    test); built once per process, in ~0.3 s."""
    return dict.fromkeys(cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Mn")


def text_hash(text: str, normalize: bool = True) -> tuple[int, int]:
    """128-bit xxh3 of the (normalised) text as two uint64 halves: collisions are negligible
    at web scale, where 64 bits would start to collide past ~4 billion documents."""
    data = _normalized_bytes(text) if normalize else text.encode("utf-8", "surrogatepass")
    digest = xxhash.xxh3_128_intdigest(data)
    return digest >> 64, digest & _MASK64


def hashes_dir(workdir: str) -> str:
    return storage.join(workdir, "hashes")


def drops_dir(workdir: str) -> str:
    return storage.join(workdir, "drops")


@dataclass(frozen=True)
class BucketJob:
    """One reduce task of the shuffle: one bucket over every task's hash file."""

    workdir: str
    task_ids: tuple[str, ...]
    bucket: int


def resolve_bucket(job: BucketJob) -> dict[str, int]:
    """Keep the smallest id per hash in one bucket; write the others as per-task drop lists."""
    return shuffle.reduce_once(drops_dir(job.workdir), job.bucket, lambda: _resolve_bucket(job))


def _resolve_bucket(job: BucketJob) -> dict[str, int]:
    tables = []
    wanted = set(job.task_ids)
    for tid, path in shuffle.partition_files(hashes_dir(job.workdir), job.bucket):
        if tid not in wanted:
            continue
        t = storage.read_parquet(path).cast(HASH_SCHEMA)
        tables.append(t.append_column("task", pa.array([tid] * t.num_rows, pa.string())))
    table = pa.concat_tables(tables) if tables else HASH_SCHEMA.empty_table()
    stats = {"hashed": table.num_rows, "duplicates": 0, "duplicate_groups": 0, "bytes_saved": 0}
    if table.num_rows == 0:
        return stats
    # (id, task, ord) breaks ties, so the survivor is the same whatever engine ran the tasks.
    table = table.sort_by(
        [("h1", "ascending"), ("h2", "ascending"), ("id", "ascending"), ("task", "ascending"), ("ord", "ascending")]
    )
    h1 = table.column("h1").to_numpy()
    h2 = table.column("h2").to_numpy()
    first = np.ones(len(h1), dtype=bool)
    first[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
    dropped = table.filter(pa.array(~first))
    # A group has duplicates when its first row is followed by a non-first row.
    stats["duplicate_groups"] = int(np.count_nonzero(first[:-1] & ~first[1:]))
    stats["duplicates"] = dropped.num_rows
    stats["bytes_saved"] = int(pc.sum(dropped.column("nbytes")).as_py() or 0)
    tasks = dropped.column("task")
    for tid in sorted(set(tasks.to_pylist())):
        rows = dropped.filter(pc.equal(tasks, tid)).select(["ord", "id", "nbytes"])
        shuffle.write_intermediate(
            shuffle.partition_file(drops_dir(job.workdir), tid, f"{job.bucket:05d}"), rows.cast(DROP_SCHEMA)
        )
    return stats


class _BucketFiles:
    """A task's hash rows, buffered in batches and streamed to its bucket files (bounded memory)."""

    def __init__(self, workdir: str, task_id: str, buckets: int):
        self.buckets = buckets
        self.rows: list[tuple[int, int, str, int, int]] = []
        self._files = shuffle.PartitionWriter(hashes_dir(workdir), task_id, HASH_SCHEMA)

    def __enter__(self) -> _BucketFiles:
        return self

    def add(self, h1: int, h2: int, doc_id: str, ord_: int, nbytes: int) -> None:
        self.rows.append((h1, h2, doc_id, ord_, nbytes))
        if len(self.rows) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        h1, h2, ids, ords, nbytes = zip(*self.rows)
        table = pa.table(
            [
                pa.array(h1, pa.uint64()),
                pa.array(h2, pa.uint64()),
                pa.array(ids, pa.string()),
                pa.array(ords, pa.int64()),
                pa.array(nbytes, pa.int64()),
            ],
            schema=HASH_SCHEMA,
        )
        self._files.write(table, (np.asarray(h2, dtype=np.uint64) % np.uint64(self.buckets)).astype(np.int64))
        self.rows = []

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        self._files.__exit__(exc_type, exc, tb)


class ExactDedup(GlobalStep):
    """Drops every document whose normalised text was already kept elsewhere in the corpus."""

    type = "exact_dedup"
    config: Config

    class Config(StageConfig):
        # FineWeb (Penedo et al. 2024) normalises before hashing, so copies that differ only in
        # case, punctuation, digits or whitespace (dates, counters, boilerplate) still match.
        normalize: bool = True
        # None: the engine config's shuffle_buckets (the runner fills it in).
        buckets: int | None = None

    @property
    def buckets(self) -> int:
        return self.config.buckets or shuffle.DEFAULT_BUCKETS

    def prepare(self, docs: Iterable[Document]) -> Iterator[Document]:
        normalize = self.config.normalize
        with _BucketFiles(self.workdir, self.task_id, self.buckets) as files:
            for i, doc in enumerate(docs):
                h1, h2 = text_hash(doc.text, normalize)
                files.add(h1, h2, doc.id, i, len(doc.text.encode("utf-8", "surrogatepass")))
                yield doc

    def resolve(self, engine, task_ids: list[str]) -> dict[str, Any]:
        jobs = [BucketJob(self.workdir, tuple(task_ids), b) for b in range(self.buckets)]

        def totals() -> dict[str, int]:
            out = {"hashed": 0, "duplicates": 0, "duplicate_groups": 0, "bytes_saved": 0}
            for stats in engine.map(resolve_bucket, jobs, desc=f"{self.name}: resolve buckets"):
                for k, v in stats.items():
                    out[k] += v
            return out

        return markers.once(drops_dir(self.workdir), totals)

    def _drop_list(self) -> dict[int, str]:
        if not markers.is_committed(drops_dir(self.workdir)):
            raise RuntimeError(
                f"{self.name}: apply called before resolve finished (no {markers.marker_path(drops_dir(self.workdir))})"
            )
        t = shuffle.read_partition(drops_dir(self.workdir), self.task_id, DROP_SCHEMA)
        return dict(zip(t.column("ord").to_pylist(), t.column("id").to_pylist()))

    def apply(self, docs: Iterable[Document]) -> Iterator[Document]:
        drops = self._drop_list()
        for i, doc in enumerate(docs):
            expected = drops.get(i)
            if expected is None:
                yield doc
                continue
            if expected != doc.id:
                raise RuntimeError(
                    f"{self.name}: task {self.task_id} document {i} is {doc.id!r}, resolve expected "
                    f"{expected!r}; apply must see the documents prepare saw, in the same order"
                )
            self.drop(doc, "exact_duplicate")
