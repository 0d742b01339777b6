"""Connected components over duplicate edges, never held in one process.

The alternating large-star / small-star algorithm (Kiveris et al., "Connected Components in
MapReduce and Beyond", SoCC 2014): each round is two shuffles keyed by node, and it converges to
one star per component centred on the component's smallest node id. So every engine returns the
same labels: label(node) = min node of its component.

Two implementations of the same rounds: `local_components` maps numpy reduce tasks over
partition files with `engine.map` (local processes, Ray, or Spark tasks), `spark_components` uses
DataFrames (groupBy/join, checkpointed to Parquet each round). Both write the labels as
`<out>/part=<task ordinal>/*.parquet` with columns (node, label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.core import markers, storage
from corpusforge.core.shuffle import read_partition, reduce_once, run_step, write_partitioned
from corpusforge.stages.dedup.lsh import EDGE_SCHEMA, hash_partition, task_of
from corpusforge.stages.dedup.minhash import fmix64

LABEL_SCHEMA = pa.schema([("node", pa.int64()), ("label", pa.int64())])
MAX_ROUNDS = 64  # the algorithm needs O(log n) rounds; this only guards against a bug looping


@dataclass(frozen=True)
class CCTask:
    """One reduce task of one phase: read partition `k` of `src`, write to `dst`."""

    phase: str  # "symmetrize" | "large" | "small" | "labels"
    src: str
    k: int
    dst: str
    partitions: int


def _fingerprint(u: np.ndarray, v: np.ndarray) -> int:
    # order-free sum of mixed edges: equal edge sets give equal sums (collisions ~2^-64)
    if len(u) == 0:
        return 0
    mixed = fmix64(u.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + v.view(np.uint64))
    return int(mixed.sum(dtype=np.uint64))


def _unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(u) == 0:
        return u, v
    pairs = np.unique(np.stack([u, v], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _group_min(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique keys, per-key min of values, and each row's group index (keys sorted)."""
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    mins = np.minimum.reduceat(values, starts)
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(keys))))
    return keys[starts], mins, group


def _write_sym(dst: str, writer: str, a: np.ndarray, b: np.ndarray, partitions: int) -> None:
    """Write each undirected edge both ways, partitioned by its source node."""
    src = np.concatenate([a, b])
    tgt = np.concatenate([b, a])
    write_partitioned(dst, writer, pa.table({"u": src, "v": tgt}, schema=EDGE_SCHEMA), hash_partition(src, partitions))


def cc_task(task: CCTask) -> dict:
    """Run one partition of one phase; returns its counts (edges, fingerprint)."""
    return reduce_once(task.dst, task.k, lambda: _cc(task))


def _cc(task: CCTask) -> dict:
    t = read_partition(task.src, task.k, EDGE_SCHEMA)
    u, v = t.column("u").to_numpy(), t.column("v").to_numpy()
    writer = f"{task.k:05d}"
    info: dict = {}
    if task.phase == "symmetrize":
        u, v = _unique_edges(u, v)
        _write_sym(task.dst, writer, u, v, task.partitions)
    elif task.phase == "large":
        # input: symmetric edges with src in this partition
        u, v = _unique_edges(u, v)
        info["fingerprint"] = _fingerprint(u, v)
        info["edges"] = int(len(u))
        if len(u):
            keys, mins, group = _group_min(u, v)
            m = np.minimum(keys, mins)[group]
            out = v > u  # large star: link every larger neighbour to the neighbourhood's minimum
            a, b = v[out], m[out]
            write_partitioned(
                task.dst, writer, pa.table({"u": a, "v": b}, schema=EDGE_SCHEMA), hash_partition(a, task.partitions)
            )
    elif task.phase == "small":
        # input: (a, b) with a > b, a in this partition
        u, v = _unique_edges(u, v)
        if len(u):
            keys, mins, group = _group_min(u, v)
            m = mins[group]
            # small star: link the node and its smaller neighbours to the smallest of them
            a = np.concatenate([keys, v])
            b = np.concatenate([mins, m])
            keep = a != b
            a, b = _unique_edges(a[keep], b[keep])
            _write_sym(task.dst, writer, a, b, task.partitions)
    elif task.phase == "labels":
        u, v = _unique_edges(u, v)
        if len(u):
            keys, mins, _ = _group_min(u, v)
            labels = np.minimum(keys, mins)
            write_partitioned(
                task.dst, writer, pa.table({"node": keys, "label": labels}, schema=LABEL_SCHEMA), task_of(keys)
            )
        info["nodes"] = int(len(np.unique(u)))
    else:
        raise ValueError(f"unknown phase {task.phase!r}")
    return info


def _phase(engine, phase: str, src: str, dst: str, partitions: int) -> list[dict]:
    items = [CCTask(phase, src, k, dst, partitions) for k in range(partitions)]
    return run_step(engine, dst, cc_task, items, f"fuzzy dedup: components ({phase})")


def local_components(engine, edge_dir: str, in_partitions: int, workdir: str, out_dir: str, partitions: int) -> dict:
    """Labels (node, min node of its component) for every node with an edge; returns stats."""
    return markers.once(
        out_dir, lambda: _local_components(engine, edge_dir, in_partitions, workdir, out_dir, partitions)
    )


def _local_components(engine, edge_dir: str, in_partitions: int, workdir: str, out_dir: str, partitions: int) -> dict:
    current = storage.join(workdir, "round-000", "sym")
    items = [CCTask("symmetrize", edge_dir, k, current, partitions) for k in range(in_partitions)]
    run_step(engine, current, cc_task, items, "fuzzy dedup: components (edges)")
    previous = None
    rounds = 0
    for r in range(1, MAX_ROUNDS + 1):
        rounds = r
        large = storage.join(workdir, f"round-{r:03d}", "large")
        stats = _phase(engine, "large", current, large, partitions)
        fingerprint = (sum(s["edges"] for s in stats), sum(s["fingerprint"] for s in stats) % (1 << 64))
        if fingerprint == previous:
            break
        previous = fingerprint
        small = storage.join(workdir, f"round-{r:03d}", "sym")
        _phase(engine, "small", large, small, partitions)
        current = small
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    items = [CCTask("labels", current, k, out_dir, partitions) for k in range(partitions)]
    results = engine.map(cc_task, items, desc="fuzzy dedup: components (labels)")
    return {"cc_rounds": rounds, "cc_nodes": sum(x["nodes"] for x in results)}


def spark_components(spark, edge_dir: str, workdir: str, out_dir: str) -> dict:
    """The same rounds with Spark DataFrames, checkpointed to Parquet; nothing is collected."""
    return markers.once(out_dir, lambda: _spark_components(spark, edge_dir, workdir, out_dir))


def _spark_components(spark, edge_dir: str, workdir: str, out_dir: str) -> dict:
    from pyspark.sql import functions as F

    files = storage.expand([storage.join(edge_dir, "part=*", "*.parquet")])
    if not files:
        return {"cc_rounds": 0, "cc_nodes": 0}

    def sym(df):
        return df.select("u", "v").union(df.select(F.col("v").alias("u"), F.col("u").alias("v"))).distinct()

    def checkpoint(df, name: str):
        path = storage.join(workdir, name)
        if not markers.is_committed(path):
            df.write.mode("overwrite").parquet(storage.join(path, "data"))
            markers.commit(path, {})
        return spark.read.parquet(storage.join(path, "data"))

    def fingerprint(df) -> tuple:
        row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.xxhash64("u", "v").cast("decimal(38,0)")).alias("h")).first()
        return int(row["n"]), str(row["h"])

    edges = spark.read.parquet(*files).select(F.col("u").cast("long"), F.col("v").cast("long"))
    current = checkpoint(sym(edges), "spark-round-000")
    previous = None
    rounds = 0
    for r in range(1, MAX_ROUNDS + 1):
        rounds = r
        fp = fingerprint(current)
        if fp == previous:
            break
        previous = fp
        mins = current.groupBy("u").agg(F.min("v").alias("m")).withColumn("m", F.least("m", "u"))
        large = (
            current.join(mins, "u")
            .where(F.col("v") > F.col("u"))
            .select(F.col("v").alias("a"), F.col("m").alias("b"))
            .distinct()
        )
        small_min = large.groupBy("a").agg(F.min("b").alias("m"))
        joined = large.join(small_min, "a")
        star = (
            joined.select(F.col("b").alias("u"), F.col("m").alias("v"))
            .union(small_min.select(F.col("a").alias("u"), F.col("m").alias("v")))
            .where(F.col("u") != F.col("v"))
        )
        current = checkpoint(sym(star), f"spark-round-{r:03d}")
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    labels = (
        current.groupBy("u")
        .agg(F.min("v").alias("m"))
        .select(F.col("u").alias("node"), F.least("u", "m").alias("label"))
        .withColumn("part", F.shiftright("node", 32))
    )
    labels.write.mode("overwrite").partitionBy("part").parquet(out_dir)
    nodes = spark.read.parquet(out_dir).count()
    return {"cc_rounds": rounds, "cc_nodes": int(nodes)}
