"""Blend sources: resolve paths to Parquet files, select documents, count them, tokenize them to caches."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.core import markers, storage
from corpusforge.mixtures.megatron_writer import write_indexed_dataset
from corpusforge.mixtures.spec import Selector, SourceSpec
from corpusforge.mixtures.tokenizer import encode_batches, eod_id, load_tokenizer, token_dtype

_COLUMNS = ["text", "source", "meta", "annotations"]


def resolve_files(spec: SourceSpec) -> list[str]:
    """The Parquet files of a source: globs expanded, and a run output directory read as `<run>/data/*.parquet`."""
    patterns = []
    for p in spec.paths:
        if p.endswith(".parquet") or any(c in p for c in "*?["):
            patterns.append(p)
        elif storage.exists(storage.join(p, "data")):
            patterns.append(storage.join(p, "data", "*.parquet"))
        else:
            patterns.append(storage.join(p, "*.parquet"))
    return storage.expand(patterns)


def select(table: pa.Table, where: Selector) -> pa.Table:
    """The rows of a core-schema table that satisfy every condition of the selector."""
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    names = table.column_names

    def field(column: str, key: str) -> pa.ChunkedArray | None:
        if column not in names:
            return None
        struct = table.column(column)
        if key not in [f.name for f in struct.type]:
            return None
        return pc.struct_field(struct, key)

    def need(values: pa.ChunkedArray | None, cond) -> None:
        nonlocal mask
        if values is None:  # the column is absent: nothing can satisfy the condition
            mask = pa.array(np.zeros(table.num_rows, dtype=bool))
            return
        mask = pc.and_(mask, pc.fill_null(cond(values), False))

    if where.source is not None:
        need(table.column("source") if "source" in names else None, lambda v: pc.is_in(v, pa.array(where.source)))
    if where.language is not None:
        need(field("meta", "language"), lambda v: pc.is_in(v, pa.array(where.language)))
    if where.min_language_score is not None:
        need(field("meta", "language_score"), lambda v: pc.greater_equal(v, where.min_language_score))
    if where.quality_tier is not None:
        need(field("annotations", "quality_tier"), lambda v: pc.is_in(v, pa.array(where.quality_tier)))
    if where.min_quality_bucket is not None:
        need(field("annotations", "quality_bucket"), lambda v: pc.greater_equal(v, where.min_quality_bucket))
    if where.max_quality_bucket is not None:
        need(field("annotations", "quality_bucket"), lambda v: pc.less_equal(v, where.max_quality_bucket))
    if where.min_math_quality is not None:
        need(field("annotations", "math_quality"), lambda v: pc.greater_equal(v, where.min_math_quality))
    if where.exclude_contaminated:
        hits = field("annotations", "contamination")
        if hits is not None:
            mask = pc.and_(mask, pc.fill_null(pc.equal(pc.list_value_length(hits), 0), True))
    return table.filter(mask)


def _read_row_groups(path: str, columns: list[str]):
    with storage.open_file(path, "rb") as f:
        pf = pq.ParquetFile(f)
        cols = [c for c in columns if c in pf.schema_arrow.names]
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, columns=cols)


@dataclass
class FileSurvey:
    """The counting pass over one file: matching documents, their UTF-8 bytes, and a text sample."""

    path: str
    documents: int = 0
    text_bytes: int = 0
    sample: list[str] = field(default_factory=list)


def survey_file(path: str, where: Selector, sample_size: int, seed: int) -> FileSurvey:
    """Count the selected documents of a file and keep a seeded uniform sample of their texts, in random order."""
    out = FileSurvey(path)
    rng = np.random.default_rng([seed, int(hashlib.sha256(path.encode()).hexdigest()[:8], 16)])
    # Priority sampling: every document draws a random key and the smallest keys over the whole
    # file win, so each document is equally likely whatever row group it sits in.
    keys = np.zeros(0)
    texts: list[str] = []
    for table in _read_row_groups(path, _COLUMNS):
        table = select(table, where)
        text = table.column("text")
        out.text_bytes += int(pc.sum(pc.binary_length(text)).as_py() or 0)
        out.documents += table.num_rows
        if table.num_rows and sample_size:
            new = rng.random(table.num_rows)
            take = np.argsort(new)[:sample_size]
            keys = np.concatenate([keys, new[take]])
            texts += text.take(pa.array(take)).to_pylist()
            keep = np.argsort(keys, kind="stable")[:sample_size]
            keys, texts = keys[keep], [texts[i] for i in keep]
    out.sample = texts
    return out


@dataclass
class TokenizeTask:
    """Tokenize the selected documents of one file of one source into a cache dataset."""

    source: str
    path: str
    where: dict
    tokenizer_path: str
    eod_token: str | None
    batch_size: int
    prefix: str  # cache .bin/.idx prefix
    threads: int | None = None  # tokenizer threads per worker, so parallel workers do not oversubscribe cores


def cache_prefix(work: str, source: str, path: str, where: Selector, tokenizer_sha: str, eod: str | None) -> str:
    """Cache location keyed by everything that decides its tokens: file identity, selector, tokenizer, EOD."""
    info = storage.info(path)
    ident = [
        path,
        info.get("size"),
        str(info.get("mtime") or info.get("LastModified") or info.get("ETag")),
        where.digest(),
        tokenizer_sha,
        eod,
    ]
    key = hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:16]
    stem = path.rsplit("/", 1)[-1].removesuffix(".parquet")
    return storage.join(work, "tokens", source, f"{stem}-{key}")


def tokenize_file(task: TokenizeTask) -> dict:
    """Tokenize one file into its cache (skipped when already committed); returns the cache marker."""
    done = markers.committed(task.prefix)
    if done is not None:
        return done
    if task.threads:
        # Read by the tokenizers thread pool when it first starts in this worker process.
        os.environ.setdefault("RAYON_NUM_THREADS", str(task.threads))
    tok = load_tokenizer(task.tokenizer_path)
    eod = eod_id(tok, task.eod_token)
    where = Selector.model_validate(task.where)

    def chunks():
        for table in _read_row_groups(task.path, _COLUMNS):
            texts = select(table, where).column("text").to_pylist()
            yield from encode_batches(tok, texts, eod, task.batch_size)

    written = write_indexed_dataset(
        task.prefix, chunks(), token_dtype(tok.get_vocab_size()), marker={"source": task.source, "path": task.path}
    )
    return {**written.__dict__, "source": task.source, "path": task.path}
