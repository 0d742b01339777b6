"""File shuffles for global steps: map tasks write rows into partition files, reduce tasks read one partition.

Every intermediate is a Parquet file at `<base>/part=<key>/<writer>.parquet` (Hive layout, so Spark reads and
writes the same folders). A map task splits its rows by partition, one file per partition it has rows for; a
reduce task reads one partition from every writer. Memory per task is one partition, never the corpus, and the
number of partitions (the shuffle width) sets how large that is.

A shuffle step (one `engine.map` over reduce tasks) commits with the marker idiom of `core.markers`: each
reduce task under `<out>/_items/<key>`, the step under `<out>` itself, so a killed step resumes at its
first unfinished reduce task and a finished one is never redone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core import markers, storage

# Files per shuffle step and the share of the data one reduce task holds: 16 keeps a 2-worker machine busy
# with a few tasks each and, on a corpus of N bytes, bounds a reduce task to about N/16 of shuffled rows.
DEFAULT_BUCKETS = 16


def partition_dir(base: str, key: int | str) -> str:
    return storage.join(base, f"part={key}")


def partition_file(base: str, key: int | str, writer: str) -> str:
    return storage.join(partition_dir(base, key), f"{writer}.parquet")


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
        write_intermediate(partition_file(base, int(parts[s]), writer), table.slice(int(s), int(e - s)))
    return len(starts)


def write_intermediate(path: str, table: pa.Table) -> None:
    """Write an intermediate Parquet file, visible only once complete.

    Locally it is renamed into place without fsync: a shuffle writes thousands of small files and fsync
    dominated; durability comes from the step markers, written (with fsync) after the files.
    """
    fs, p = storage.filesystem(path)
    if not storage.is_local(fs):
        storage.write_parquet(path, table)
        return
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = storage.temp_name(p)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def partition_files(base: str, key: int | str) -> list[tuple[str, str]]:
    """(writer, path) of every file of one partition, sorted by writer."""
    files = storage.expand([storage.join(partition_dir(base, key), "*.parquet")])
    return [(f.rsplit("/", 1)[-1].removesuffix(".parquet"), f) for f in files]


def read_partition(base: str, key: int | str, schema: pa.Schema) -> pa.Table:
    """Every writer's rows of one partition (an empty table if none wrote any)."""
    tables = [storage.read_parquet(f).select(schema.names).cast(schema) for _, f in partition_files(base, key)]
    return pa.concat_tables(tables) if tables else schema.empty_table()


class PartitionWriter:
    """A map task's streaming side of a shuffle: batches of rows go to per-partition Parquet files.

    Each partition file is opened on its first rows, written as row groups, and renamed into place when the
    writer closes without error; memory holds one batch, never the task's rows.
    """

    def __init__(self, base: str, writer: str, schema: pa.Schema):
        self.base, self.writer, self.schema = base, writer, schema
        self._open: dict[int | str, tuple[Any, pq.ParquetWriter]] = {}

    def __enter__(self) -> PartitionWriter:
        return self

    def write(self, table: pa.Table, parts: np.ndarray) -> None:
        """Append `table`'s rows to the partitions `parts` names (one key per row)."""
        if table.num_rows == 0:
            return
        order = np.argsort(parts, kind="stable")
        parts, table = parts[order], table.take(pa.array(order))
        cuts = np.flatnonzero(parts[1:] != parts[:-1]) + 1
        for s, e in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(parts)]])):
            key = parts[s].item()
            if key not in self._open:
                cm = storage.atomic_write(partition_file(self.base, key, self.writer), "wb")
                self._open[key] = (cm, pq.ParquetWriter(cm.__enter__(), self.schema, compression="zstd"))
            self._open[key][1].write_table(table.slice(int(s), int(e - s)))

    def __exit__(self, exc_type, exc, tb) -> None:
        failure = exc
        for _, writer in self._open.values():
            try:
                writer.close()
            except Exception as e:  # the other files must still be closed or removed
                failure = failure or e
        for cm, _ in self._open.values():
            # a failed task leaves no file behind: its temporaries are removed, nothing is renamed
            cm.__exit__(type(failure), failure, None) if failure is not None else cm.__exit__(None, None, None)
        self._open = {}
        if failure is not None and exc is None:
            raise failure


def run_step(engine, unit: str, fn: Callable[[Any], Any], items: list, desc: str) -> list:
    """`engine.map(fn, items)` committed under `unit`; a rerun returns the committed results."""
    return markers.once(unit, lambda: {"items": engine.map(fn, items, desc=desc)})["items"]


def item_unit(out_dir: str, key: int | str) -> str:
    """The unit of one reduce task of the step writing `out_dir`."""
    return storage.join(out_dir, "_items", str(key))


def reduce_once(out_dir: str, key: int | str, work: Callable[[], dict]) -> dict:
    """One reduce task of a step, committed under its item unit (skipped when already committed)."""
    return markers.once(item_unit(out_dir, key), work)
