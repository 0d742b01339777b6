"""LSH banding as a file shuffle: band keys partitioned into bucket files, candidate pairs per bucket.

Every intermediate is a Parquet file at `<dir>/part=<k>/<writer>.parquet` (Hive layout, so Spark
reads and writes the same folders). A writer task splits its rows by partition; a reduce task
reads one partition from every writer. Memory per task is one partition, never the corpus.
Node ids are int64 `task_ordinal << 32 | row`: unique, ordered like the input, and readable by
Spark (which has no unsigned 64-bit type).
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core import storage

ROW_BITS = 32
EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])
BAND_SCHEMA = pa.schema([("band", pa.int32()), ("key", pa.int64()), ("row", pa.int32())])


# ----------------------------------------------------------------------------- file shuffle

def partition_dir(base: str, k: int) -> str:
    return storage.join(base, f"part={k}")


def write_partitioned(base: str, writer: str, table: pa.Table, parts: np.ndarray) -> int:
    """Write `table`'s rows into `<base>/part=<parts[i]>/<writer>.parquet`; returns files written."""
    if table.num_rows == 0:
        return 0
    order = np.argsort(parts, kind="stable")
    parts = parts[order]
    table = table.take(pa.array(order))
    cuts = np.flatnonzero(np.diff(parts)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(parts)]])
    for s, e in zip(starts, ends):
        path = storage.join(partition_dir(base, int(parts[s])), f"{writer}.parquet")
        write_intermediate(path, table.slice(int(s), int(e - s)))
    return len(starts)


def write_intermediate(path: str, table: pa.Table) -> None:
    """Write an intermediate Parquet file, visible only once complete.

    Locally it is renamed into place without fsync: a shuffle writes thousands of small files and
    fsync dominated; durability comes from the step markers, written (with fsync) after the files.
    """
    fs, p = storage.filesystem(path)
    if not storage._is_local(fs):
        storage.write_parquet(path, table)
        return
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = f"{p}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_partition(base: str, k: int, schema: pa.Schema) -> pa.Table:
    """Every writer's rows of partition k (an empty table if none wrote any)."""
    files = storage.expand([storage.join(partition_dir(base, k), "*.parquet")])
    tables = [storage.read_parquet(f).select(schema.names).cast(schema) for f in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def node_ids(ordinal: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(ordinal) << np.int64(ROW_BITS)) | rows.astype(np.int64)


def task_of(nodes: np.ndarray) -> np.ndarray:
    return nodes >> np.int64(ROW_BITS)


def hash_partition(values: np.ndarray, n: int) -> np.ndarray:
    """A well-spread partition number for int64 keys (node ids are sequential, so mix first)."""
    from corpusforge.stages.dedup.minhash import fmix64

    return (fmix64(values.astype(np.int64).view(np.uint64)) % np.uint64(n)).astype(np.int64)


# ----------------------------------------------------------------------------- step markers

def done(path: str) -> bool:
    return storage.exists(storage.join(path, "_DONE"))


def mark_done(path: str, info: dict | None = None) -> None:
    storage.write_text(storage.join(path, "_DONE"), json.dumps(info or {}))


def done_info(path: str) -> dict:
    return json.loads(storage.read_text(storage.join(path, "_DONE")))


# ----------------------------------------------------------------------------- banding

def band_table(keys: np.ndarray, rows: np.ndarray) -> pa.Table:
    """(band, key, row) rows for a docs x bands matrix of band keys and the documents' rows."""
    n_docs, bands = keys.shape
    band = np.tile(np.arange(bands, dtype=np.int32), n_docs)
    return pa.table({"band": band, "key": keys.reshape(-1).view(np.int64),
                     "row": np.repeat(rows.astype(np.int32), bands)}, schema=BAND_SCHEMA)


@dataclass(frozen=True)
class CandidatesTask:
    """Reduce one bucket partition into candidate edges."""

    bands_dir: str
    partition: int
    ordinals: dict[str, int]  # task id -> ordinal
    out_dir: str
    out_partitions: int
    route_by_task: bool  # verification routes an edge to its first document's task
    pairwise_max: int  # buckets up to this size give every pair; larger ones a star


def bucket_edges(band: np.ndarray, key: np.ndarray, node: np.ndarray, pairwise_max: int) -> np.ndarray:
    """Candidate edges (u < v) from bucket members: every pair of a small bucket, a star around
    the smallest node of a large one (a star keeps the components; pairs let verification find
    a duplicate pair whose link to the star's centre fails the exact check)."""
    if len(node) == 0:
        return np.zeros((0, 2), np.int64)
    order = np.lexsort((node, key, band))
    band, key, node = band[order], key[order], node[order]
    new = np.ones(len(node), bool)
    new[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(node)))
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    if len(starts) == 0:
        return np.zeros((0, 2), np.int64)
    # star edges: centre (first, smallest) to every other member
    centre = np.repeat(node[starts], sizes - 1)
    member_idx = np.repeat(starts, sizes - 1) + _ranks(sizes - 1) + 1
    edges = [np.stack([centre, node[member_idx]], axis=1)]
    # extra pairs (i, j), 1 <= i < j, inside small buckets
    small = (sizes > 2) & (sizes <= pairwise_max)
    for s, size in zip(starts[small], sizes[small]):
        i, j = np.triu_indices(int(size), k=1)
        keep = i > 0
        edges.append(np.stack([node[s + i[keep]], node[s + j[keep]]], axis=1))
    out = np.concatenate(edges)
    return np.unique(out, axis=0)


def _ranks(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for each size, concatenated."""
    total = int(sizes.sum())
    offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total) - offsets


def candidates_task(task: CandidatesTask) -> dict:
    """Read one bucket partition from every task, write its candidate edges; returns counts."""
    marker = storage.join(task.out_dir, "_items", f"{task.partition}.json")
    if storage.exists(marker):
        return json.loads(storage.read_text(marker))
    bands, keys, nodes, buckets = [], [], [], 0
    for tid, ordinal in task.ordinals.items():
        path = storage.join(partition_dir(task.bands_dir, task.partition), f"{tid}.parquet")
        if not storage.exists(path):
            continue
        t = storage.read_parquet(path)
        bands.append(t.column("band").to_numpy())
        keys.append(t.column("key").to_numpy())
        nodes.append(node_ids(ordinal, t.column("row").to_numpy()))
    if bands:
        edges = bucket_edges(np.concatenate(bands), np.concatenate(keys), np.concatenate(nodes), task.pairwise_max)
    else:
        edges = np.zeros((0, 2), np.int64)
    u, v = edges[:, 0], edges[:, 1]
    parts = task_of(u) if task.route_by_task else hash_partition(u, task.out_partitions)
    write_partitioned(task.out_dir, f"{task.partition:05d}", pa.table({"u": u, "v": v}, schema=EDGE_SCHEMA), parts)
    info = {"edges": int(len(u))}
    storage.write_text(marker, json.dumps(info))
    return info


def read_edges(edge_dir: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    t = read_partition(edge_dir, k, EDGE_SCHEMA)
    return t.column("u").to_numpy(), t.column("v").to_numpy()


def parquet_rows(path: str) -> int:
    with storage.open_file(path, "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows
