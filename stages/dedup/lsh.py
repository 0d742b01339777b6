"""LSH banding as a file shuffle: band keys partitioned into bucket files, candidate pairs per bucket.

The shuffle itself (Hive-layout partition files, step and reduce-task markers) is `core.shuffle`; this
module holds what is particular to LSH. Node ids are int64 `task_ordinal << 32 | row`: unique, ordered
like the input, and readable by Spark (which has no unsigned 64-bit type).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.core import storage
from corpusforge.core.shuffle import partition_file, read_partition, reduce_once, write_partitioned

ROW_BITS = 32
EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])
BAND_SCHEMA = pa.schema([("band", pa.int32()), ("key", pa.int64()), ("row", pa.int32())])


# ----------------------------------------------------------------------------- node ids


def node_ids(ordinal: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(ordinal) << np.int64(ROW_BITS)) | rows.astype(np.int64)


def task_of(nodes: np.ndarray) -> np.ndarray:
    return nodes >> np.int64(ROW_BITS)


def hash_partition(values: np.ndarray, n: int) -> np.ndarray:
    """A well-spread partition number for int64 keys (node ids are sequential, so mix first)."""
    from corpusforge.stages.dedup.minhash import fmix64

    return (fmix64(values.astype(np.int64).view(np.uint64)) % np.uint64(n)).astype(np.int64)


# ----------------------------------------------------------------------------- banding


def band_table(keys: np.ndarray, rows: np.ndarray) -> pa.Table:
    """(band, key, row) rows for a docs x bands matrix of band keys and the documents' rows."""
    n_docs, bands = keys.shape
    band = np.tile(np.arange(bands, dtype=np.int32), n_docs)
    return pa.table(
        {"band": band, "key": keys.reshape(-1).view(np.int64), "row": np.repeat(rows.astype(np.int32), bands)},
        schema=BAND_SCHEMA,
    )


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
    return reduce_once(task.out_dir, task.partition, lambda: _candidates(task))


def _candidates(task: CandidatesTask) -> dict:
    bands, keys, nodes = [], [], []
    for tid, ordinal in task.ordinals.items():
        path = partition_file(task.bands_dir, task.partition, tid)
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
    return {"edges": int(len(u))}


def read_edges(edge_dir: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    t = read_partition(edge_dir, k, EDGE_SCHEMA)
    return t.column("u").to_numpy(), t.column("v").to_numpy()
