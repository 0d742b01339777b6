"""Fuzzy deduplication: MinHash LSH, exact-Jaccard check, connected components, one kept per cluster.

Steps and what each writes under the step's workdir (a file shuffle of `core.shuffle`: every step and every
reduce task commits with a marker, so a rerun after a crash resumes where it stopped):
  prepare (per task)  bands/part=<bucket>/<task>.parquet   band keys of each document
                      docs/<task>.parquet                   id, bytes, keep rank per row
                      texts/<task>.parquet                  texts, only when `verify` is on
  candidates          candidates/part=<k>/                  edges from shared band buckets
  verify_left/right   verified/part=<k>/                    edges whose exact Jaccard >= threshold
  components          components/part=<task>/               (node, min node of its component)
  assign, clusters    clusters/part=<task>/                 cluster id, size, removed flag per row
  apply (per task)    drops `fuzzy_duplicate`, annotates cluster_id / cluster_size

Verification is exact: it re-shingles both texts of each candidate pair and compares shingle
sets, so LSH false positives never remove a document. It needs the texts, which `prepare` keeps
(zstd Parquet, about a third of the text's size); `verify: false` skips that copy and the check,
as NeMo Curator and datatrove do.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from corpusforge.core import shuffle, storage
from corpusforge.core.document import Document
from corpusforge.stages.base import GlobalStep, StageConfig
from corpusforge.stages.dedup import lsh
from corpusforge.stages.dedup.components import LABEL_SCHEMA, local_components, spark_components
from corpusforge.stages.dedup.minhash import MinHashParams, band_hashes, shingle_hashes, signatures

# Published settings. Nemotron-CC (Su et al. 2024) deduplicates with NeMo Curator's fuzzy dedup:
# 24-character shingles, 260 hashes in 20 bands of 13, Jaccard 0.8. FineWeb (Penedo et al. 2024,
# "FineWeb: decanting the web", section 3.3): 5-word shingles, 112 hashes in 14 bands of 8,
# targeting documents at least 75% similar.
PRESETS: dict[str, dict[str, Any]] = {
    "nemotron_cc": {"shingle": "char", "ngram": 24, "bands": 20, "rows": 13, "threshold": 0.8},
    "fineweb": {"shingle": "word", "ngram": 5, "bands": 14, "rows": 8, "threshold": 0.75},
    # The Stack v2 / BigCode v2 near-dedup (StarCoder2 paper section 3.1; bigcode-dataset
    # near_deduplication/bigcode-v2 run.sh): 5-grams of \w tokens, 250 permutations, Jaccard 0.7;
    # 25 bands x 10 rows is what its optimal_param picks for 250 hashes at 0.7 (FP/FN weights 0.5).
    "code": {"shingle": "code", "ngram": 5, "bands": 25, "rows": 10, "threshold": 0.7},
}
DOCS_SCHEMA = pa.schema([("row", pa.int32()), ("id", pa.string()), ("nbytes", pa.int64()), ("rank", pa.float64())])
TEXT_SCHEMA = pa.schema([("row", pa.int32()), ("text", pa.large_string())])
CLUSTER_SCHEMA = pa.schema(
    [("node", pa.int64()), ("cluster_id", pa.string()), ("cluster_size", pa.int32()), ("removed", pa.bool_())]
)
SIZE_BINS = [2, 3, 4, 5, 9, 17, 33, 65, 129, 257, 1025]


@dataclass(frozen=True)
class FuzzyParams:
    """The resolved settings: the preset with every override applied."""

    shingle: str
    ngram: int
    bands: int
    rows: int
    threshold: float
    seed: int

    @property
    def minhash(self) -> MinHashParams:
        return MinHashParams(self.shingle, self.ngram, self.bands * self.rows, self.seed)


class FuzzyDedup(GlobalStep):
    """Near-duplicate removal with MinHash LSH and connected components, memory bounded per task."""

    type = "fuzzy_dedup"
    config: Config

    class Config(StageConfig):
        preset: Literal["nemotron_cc", "fineweb", "code"] = "nemotron_cc"  # Nemotron-CC's NeMo Curator setting
        # Overrides of the preset (None: the preset's value).
        shingle: Literal["char", "word", "code"] | None = None
        ngram: int | None = Field(None, ge=1)
        bands: int | None = Field(None, ge=1)
        rows: int | None = Field(None, ge=1)
        threshold: float | None = Field(None, gt=0, le=1)
        seed: int = 42  # permutation seed: same seed, same signatures on every engine
        verify: bool = True  # exact Jaccard check of candidate pairs (NeMo Curator's false-positive check)
        # Which document of a cluster stays: the longest (NeMo Curator keeps one arbitrary member;
        # longest keeps the most text), the highest `annotations.scores[quality_score]`, or the
        # earliest `meta.warc_date`, or the copy from the repository with the most stars, then the most
        # files (`meta.repo_stars`, `meta.repo_files`; The Stack v2 keeps the more-starred repository's
        # copy, StarCoder2 section 3.1). Ties go to the earlier document in input order.
        keep: Literal["longest", "quality", "earliest", "repo"] = "longest"
        quality_score: str = "quality"
        partitions: int = Field(16, ge=1)  # shuffle width: bucket files per step, memory per reduce task
        pairwise_max: int = Field(16, ge=2)  # with verify: buckets up to this size check every pair
        batch_size: int = Field(1024, ge=1)  # documents signed per vectorised batch, at most
        # Characters per batch, at most: the vectorised pass holds ~60 bytes of temporaries per
        # character, so this bounds a task's memory whatever the document lengths (512k chars:
        # ~30 MB, and the fastest batch size measured: temporaries stay in cache).
        batch_chars: int = Field(1 << 19, ge=1)

    # ------------------------------------------------------------------ settings

    @property
    def params(self) -> FuzzyParams:
        c = self.config
        p = dict(PRESETS[c.preset])
        for k in ("shingle", "ngram", "bands", "rows", "threshold"):
            if getattr(c, k) is not None:
                p[k] = getattr(c, k)
        return FuzzyParams(p["shingle"], p["ngram"], p["bands"], p["rows"], p["threshold"], c.seed)

    def _path(self, *parts: str) -> str:
        return storage.join(self.workdir, *parts)

    # ------------------------------------------------------------------ prepare (per task)

    def prepare(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Sign each document, write its band keys by bucket partition; pass the documents through."""
        params, cfg = self.params, self.config
        band_tables, doc_rows = [], {"row": [], "id": [], "nbytes": [], "rank": []}
        text_writer = _TextWriter(self._path("texts", f"{self.task_id}.parquet")) if cfg.verify else None
        row = chars = 0
        batch: list[Document] = []

        def flush() -> Iterator[Document]:
            nonlocal row, batch, chars
            texts = [d.text for d in batch]
            sig = signatures(texts, params.minhash)
            keys = band_hashes(sig, params.bands, params.rows)
            has_shingles = sig[:, 0] != np.iinfo(np.uint64).max
            rows = np.arange(row, row + len(batch), dtype=np.int32)
            band_tables.append(lsh.band_table(keys[has_shingles], rows[has_shingles]))
            for i, d in enumerate(batch):
                doc_rows["row"].append(row + i)
                doc_rows["id"].append(d.id)
                doc_rows["nbytes"].append(len(d.text.encode("utf-8", "surrogatepass")))
                doc_rows["rank"].append(self._rank(d))
            if text_writer:
                text_writer.write(np.arange(row, row + len(batch), dtype=np.int32), texts)
            row += len(batch)
            out, batch, chars = batch, [], 0
            yield from out

        try:
            for doc in docs:
                batch.append(doc)
                chars += len(doc.text)
                if len(batch) >= cfg.batch_size or chars >= cfg.batch_chars:
                    yield from flush()
            if batch:
                yield from flush()
        finally:
            if text_writer:
                text_writer.close()
        bands = pa.concat_tables(band_tables) if band_tables else lsh.BAND_SCHEMA.empty_table()
        keys = bands.column("key").to_numpy()
        shuffle.write_partitioned(self._path("bands"), self.task_id, bands, lsh.hash_partition(keys, cfg.partitions))
        storage.write_parquet(self._path("docs", f"{self.task_id}.parquet"), pa.table(doc_rows, schema=DOCS_SCHEMA))

    def _rank(self, doc: Document) -> float:
        """Smaller is better: the keep rule as one number per document."""
        keep = self.config.keep
        if keep == "longest":
            return -float(len(doc.text.encode("utf-8", "surrogatepass")))
        if keep == "quality":
            score = (doc.annotations.get("scores") or {}).get(self.config.quality_score)
            return -float(score) if score is not None else math.inf
        if keep == "repo":
            # Stars first, files second: one float keeps the order exactly (both fit in 2^52 together).
            stars = min(int(doc.meta.get("repo_stars") or 0), (1 << 30) - 1)
            files = min(int(doc.meta.get("repo_files") or 0), (1 << 21) - 1)
            return -float(stars * (1 << 21) + files)
        date = doc.meta.get("warc_date")
        if not date:
            return math.inf
        try:
            return datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return math.inf

    # ------------------------------------------------------------------ resolve (driver)

    def resolve(self, engine, task_ids: list[str]) -> dict[str, Any]:
        """Buckets -> candidate pairs -> exact check -> components -> one kept per cluster."""
        cfg, params = self.config, self.params
        ordinals = {tid: i for i, tid in enumerate(sorted(task_ids))}
        storage.write_text(self._path("tasks.json"), json.dumps(ordinals))
        timings: dict[str, float] = {}
        P, T = cfg.partitions, len(ordinals)

        t0 = time.perf_counter()
        cand_dir = self._path("candidates")
        cand = self._step(
            engine,
            cand_dir,
            lsh.candidates_task,
            [
                lsh.CandidatesTask(
                    self._path("bands"), k, ordinals, cand_dir, P, cfg.verify, cfg.pairwise_max if cfg.verify else 2
                )
                for k in range(P)
            ],
            "candidates",
        )
        stats: dict[str, Any] = {"candidate_pairs": sum(x["edges"] for x in cand)}
        timings["candidates"] = time.perf_counter() - t0

        edge_dir, edge_parts = cand_dir, P
        if cfg.verify:
            t0 = time.perf_counter()
            left_dir, ver_dir = self._path("verify_left"), self._path("verified")
            by_ordinal = {i: tid for tid, i in ordinals.items()}
            self._step(
                engine,
                left_dir,
                verify_left_task,
                [VerifyTask(self.workdir, t, by_ordinal[t], left_dir, P, params) for t in range(T)],
                "verify (ship)",
            )
            ver = self._step(
                engine,
                ver_dir,
                verify_right_task,
                [VerifyTask(self.workdir, t, by_ordinal[t], ver_dir, P, params) for t in range(T)],
                "verify (check)",
            )
            stats["verified_pairs"] = sum(x["kept"] for x in ver)
            stats["false_positive_pairs"] = sum(x["checked"] - x["kept"] for x in ver)
            hist: Counter = Counter()
            for x in ver:
                hist.update(x["jaccard_hist"])
            stats["candidate_jaccard_histogram"] = dict(sorted(hist.items()))
            edge_dir = ver_dir
            timings["verify"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        comp_dir = self._path("components")
        if getattr(engine, "name", "") == "spark":
            stats.update(spark_components(engine.spark, edge_dir, self._path("cc"), comp_dir))
        else:
            stats.update(local_components(engine, edge_dir, edge_parts, self._path("cc"), comp_dir, P))
        timings["components"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        by_ordinal = {i: tid for tid, i in ordinals.items()}
        assign_dir, cluster_dir = self._path("assign"), self._path("clusters")
        self._step(
            engine,
            assign_dir,
            assign_task,
            [AssignTask(self.workdir, t, by_ordinal[t], assign_dir, P) for t in range(T)],
            "assign",
        )
        clusters = self._step(
            engine, cluster_dir, clusters_task, [ClustersTask(assign_dir, k, cluster_dir) for k in range(P)], "clusters"
        )
        timings["clusters"] = time.perf_counter() - t0

        sizes: Counter = Counter()
        for x in clusters:
            sizes.update(x["size_hist"])
        stats.update(
            {
                "clusters": sum(x["clusters"] for x in clusters),
                "docs_removed": sum(x["removed"] for x in clusters),
                "bytes_removed": sum(x["bytes_removed"] for x in clusters),
                "cluster_size_histogram": dict(sorted(sizes.items(), key=lambda kv: _bin_start(kv[0]))),
                "largest_cluster": max((x.get("largest", 0) for x in clusters), default=0),
                "step_seconds": {k: round(v, 3) for k, v in timings.items()},
            }
        )
        return stats

    @staticmethod
    def _step(engine, out_dir: str, fn, items: list, desc: str) -> list[dict]:
        """Run one shuffle step unless it committed; its marker keeps the step's results."""
        return shuffle.run_step(engine, out_dir, fn, items, f"fuzzy dedup: {desc}")

    # ------------------------------------------------------------------ apply (per task)

    def _load_removal(self) -> dict[int, tuple[str, int, bool]]:
        ordinals = json.loads(storage.read_text(self._path("tasks.json")))
        ordinal = ordinals[self.task_id]
        t = shuffle.read_partition(self._path("clusters"), ordinal, CLUSTER_SCHEMA)
        rows = (t.column("node").to_numpy() & np.int64(0xFFFFFFFF)).tolist()
        return dict(
            zip(
                rows,
                zip(
                    t.column("cluster_id").to_pylist(),
                    t.column("cluster_size").to_pylist(),
                    t.column("removed").to_pylist(),
                ),
            )
        )

    def apply(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Drop every cluster member but the kept one; annotate cluster id and size."""
        removal = self._load_removal()
        ids = storage.read_parquet(self._path("docs", f"{self.task_id}.parquet"), ["id"]).column("id").to_pylist()
        for row, doc in enumerate(docs):
            if row >= len(ids) or ids[row] != doc.id:
                raise RuntimeError(
                    f"fuzzy_dedup: task {self.task_id} row {row} is {doc.id!r}, prepare saw "
                    f"{ids[row] if row < len(ids) else 'nothing'!r}: documents changed between steps"
                )
            hit = removal.get(row)
            if hit is None:
                yield doc
                continue
            cluster_id, size, removed = hit
            doc.annotations["cluster_id"] = cluster_id
            doc.annotations["cluster_size"] = size
            if removed:
                self.drop(doc, "fuzzy_duplicate")
            else:
                yield doc


# ---------------------------------------------------------------------------- reduce tasks


class _TextWriter:
    """Streams (row, text) to Parquet so a task never holds all its texts."""

    def __init__(self, path: str):
        self._cm = storage.atomic_write(path, "wb")
        self._writer = pq.ParquetWriter(self._cm.__enter__(), TEXT_SCHEMA, compression="zstd")

    def write(self, rows: np.ndarray, texts: list[str]) -> None:
        self._writer.write_table(pa.table({"row": rows, "text": texts}, schema=TEXT_SCHEMA))

    def close(self) -> None:
        self._writer.close()
        self._cm.__exit__(None, None, None)


@dataclass(frozen=True)
class VerifyTask:
    workdir: str
    ordinal: int
    task_id: str
    out_dir: str
    partitions: int
    params: FuzzyParams


def _texts_of(workdir: str, task_id: str, rows: np.ndarray) -> dict[int, str]:
    """Texts of the given rows of one task (read in row groups, keeping only those rows)."""
    wanted = set(rows.tolist())
    out: dict[int, str] = {}
    if not wanted:
        return out
    with storage.open_file(storage.join(workdir, "texts", f"{task_id}.parquet"), "rb") as f:
        pf = pq.ParquetFile(f)
        for i in range(pf.num_row_groups):
            g = pf.read_row_group(i)
            r = g.column("row").to_numpy()
            hit = np.flatnonzero(np.isin(r, rows))
            texts = g.column("text")
            for j in hit:
                out[int(r[j])] = texts[int(j)].as_py()
    return out


def verify_left_task(task: VerifyTask) -> dict:
    """Ship the first document's text of each candidate edge (u in this task) to v's task."""
    return shuffle.reduce_once(task.out_dir, task.ordinal, lambda: _verify_left(task))


def _verify_left(task: VerifyTask) -> dict:
    u, v = lsh.read_edges(storage.join(task.workdir, "candidates"), task.ordinal)
    if len(u):
        pairs = np.unique(np.stack([u, v], axis=1), axis=0)
        u, v = pairs[:, 0], pairs[:, 1]
    texts = _texts_of(task.workdir, task.task_id, (u & np.int64(0xFFFFFFFF)).astype(np.int64))
    dest = lsh.task_of(v)
    shuffle.write_partitioned(
        storage.join(task.out_dir, "edges"),
        f"{task.ordinal:05d}",
        pa.table({"u": u, "v": v}, schema=lsh.EDGE_SCHEMA),
        dest,
    )
    # each text once per destination task, however many edges it has there
    if len(u):
        pairs = np.unique(np.stack([dest, u], axis=1), axis=0)
        d, uu = pairs[:, 0], pairs[:, 1]
        text_col = [texts[int(x & 0xFFFFFFFF)] for x in uu]
        shuffle.write_partitioned(
            storage.join(task.out_dir, "texts"), f"{task.ordinal:05d}", pa.table({"node": uu, "text": text_col}), d
        )
    return {"edges": int(len(u))}


def _shingle_sets(texts: list[str], params: FuzzyParams) -> list[np.ndarray]:
    hashes, offsets = shingle_hashes(texts, params.shingle, params.ngram)
    return [np.unique(hashes[offsets[i] : offsets[i + 1]]) for i in range(len(texts))]


def verify_right_task(task: VerifyTask) -> dict:
    """Exact Jaccard of every candidate edge whose second document is in this task."""
    return shuffle.reduce_once(task.out_dir, task.ordinal, lambda: _verify_right(task))


def _verify_right(task: VerifyTask) -> dict:
    left = storage.join(task.workdir, "verify_left")
    u, v = lsh.read_edges(storage.join(left, "edges"), task.ordinal)
    hist: Counter = Counter()
    kept = np.zeros(len(u), bool)
    if len(u):
        shipped = shuffle.read_partition(
            storage.join(left, "texts"), task.ordinal, pa.schema([("node", pa.int64()), ("text", pa.large_string())])
        )
        u_nodes = shipped.column("node").to_numpy()
        u_sets = dict(zip(u_nodes.tolist(), _shingle_sets(shipped.column("text").to_pylist(), task.params)))
        v_rows = np.unique(v & np.int64(0xFFFFFFFF))
        v_texts = _texts_of(task.workdir, task.task_id, v_rows)
        v_sets = dict(zip(v_texts.keys(), _shingle_sets(list(v_texts.values()), task.params)))
        for i, (a, b) in enumerate(zip(u.tolist(), v.tolist())):
            sa, sb = u_sets[a], v_sets[b & 0xFFFFFFFF]
            inter = len(np.intersect1d(sa, sb, assume_unique=True))
            union = len(sa) + len(sb) - inter
            j = inter / union if union else 1.0
            kept[i] = j >= task.params.threshold
            hist[f"{min(int(j * 10), 9) / 10:.1f}"] += 1
    shuffle.write_partitioned(
        task.out_dir,
        f"{task.ordinal:05d}",
        pa.table({"u": u[kept], "v": v[kept]}, schema=lsh.EDGE_SCHEMA),
        lsh.hash_partition(u[kept], task.partitions),
    )
    return {"checked": int(len(u)), "kept": int(kept.sum()), "jaccard_hist": dict(hist)}


@dataclass(frozen=True)
class AssignTask:
    workdir: str
    ordinal: int
    task_id: str
    out_dir: str
    partitions: int


ASSIGN_SCHEMA = pa.schema(
    [("label", pa.int64()), ("node", pa.int64()), ("rank", pa.float64()), ("nbytes", pa.int64()), ("id", pa.string())]
)


def assign_task(task: AssignTask) -> dict:
    """Attach each clustered document's keep rank and id, routed to its cluster's partition."""
    return shuffle.reduce_once(task.out_dir, task.ordinal, lambda: _assign(task))


def _assign(task: AssignTask) -> dict:
    labels = shuffle.read_partition(storage.join(task.workdir, "components"), task.ordinal, LABEL_SCHEMA)
    node = labels.column("node").to_numpy()
    label = labels.column("label").to_numpy()
    if len(node):
        docs = storage.read_parquet(storage.join(task.workdir, "docs", f"{task.task_id}.parquet"))
        rows = (node & np.int64(0xFFFFFFFF)).astype(np.int64)
        order = np.argsort(docs.column("row").to_numpy())
        idx = order[np.searchsorted(docs.column("row").to_numpy(), rows, sorter=order)]
        table = pa.table(
            {
                "label": label,
                "node": node,
                "rank": docs.column("rank").to_numpy()[idx],
                "nbytes": docs.column("nbytes").to_numpy()[idx],
                "id": docs.column("id").take(pa.array(idx)),
            },
            schema=ASSIGN_SCHEMA,
        )
        shuffle.write_partitioned(
            task.out_dir, f"{task.ordinal:05d}", table, lsh.hash_partition(label, task.partitions)
        )
    return {"nodes": int(len(node))}


@dataclass(frozen=True)
class ClustersTask:
    assign_dir: str
    partition: int
    out_dir: str


def _size_bin(size: int) -> str:
    for lo, hi in zip(SIZE_BINS, SIZE_BINS[1:]):
        if size < hi:
            return str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}"
    return f"{SIZE_BINS[-1]}+"


def _bin_start(label: str) -> int:
    """Smallest size of a histogram bin label ("3", "5-8", "1025+")."""
    return int(label.rstrip("+").split("-")[0])


def clusters_task(task: ClustersTask) -> dict:
    """Per cluster: size and the kept document (best rank, then input order); route back by task."""
    return shuffle.reduce_once(task.out_dir, task.partition, lambda: _clusters(task))


def _clusters(task: ClustersTask) -> dict:
    t = shuffle.read_partition(task.assign_dir, task.partition, ASSIGN_SCHEMA)
    label = t.column("label").to_numpy()
    info = {"clusters": 0, "removed": 0, "bytes_removed": 0, "size_hist": {}}
    if len(label):
        node = t.column("node").to_numpy()
        rank = t.column("rank").to_numpy()
        order = np.lexsort((node, rank, label))
        label, node, rank = label[order], node[order], rank[order]
        nbytes = t.column("nbytes").to_numpy()[order]
        ids = t.column("id").take(pa.array(order)).to_pylist()
        starts = np.flatnonzero(np.concatenate([[True], label[1:] != label[:-1]]))
        sizes = np.diff(np.append(starts, len(label)))
        group = np.repeat(np.arange(len(starts)), sizes)
        removed = np.ones(len(label), bool)
        removed[starts] = False  # the first of each cluster in (rank, node) order is kept
        cluster_ids = [ids[s] for s in starts]
        table = pa.table(
            {
                "node": node,
                "cluster_id": [cluster_ids[g] for g in group.tolist()],
                "cluster_size": sizes[group].astype(np.int32),
                "removed": removed,
            },
            schema=CLUSTER_SCHEMA,
        )
        shuffle.write_partitioned(task.out_dir, f"{task.partition:05d}", table, lsh.task_of(node))
        hist = Counter(_size_bin(int(s)) for s in sizes)
        info = {
            "clusters": int(len(starts)),
            "largest": int(sizes.max()),
            "removed": int(removed.sum()),
            "bytes_removed": int(nbytes[removed].sum()),
            "size_hist": dict(hist),
        }
    return info
