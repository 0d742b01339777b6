"""The document record every stage reads and writes, and its Arrow schema on disk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import xxhash

# Typed metadata: every key a stage may set, with its on-disk type. A stage that sets a key
# not listed here fails at write time, so metadata never turns into an untyped grab bag
# (the failure mode STYLE.md warns about in datatrove).
META_FIELDS: dict[str, pa.DataType] = {
    "url": pa.string(),
    "domain": pa.string(),
    "warc_record_id": pa.string(),
    "warc_date": pa.string(),
    "warc_filename": pa.string(),
    "content_type": pa.string(),
    "charset": pa.string(),
    "language": pa.string(),
    "language_score": pa.float32(),
    "license": pa.string(),
    "repo": pa.string(),
    "path": pa.string(),
    "commit": pa.string(),  # code: the commit (or snapshot) a file was read at
    "size": pa.int64(),  # code: the file's size in bytes as stored in the repository
    "repo_stars": pa.int32(),  # code: stars of the repository (The Stack's max_stars_count), when known
    "repo_files": pa.int32(),  # code: files in the repository snapshot (near-dedup keeps the larger repo's copy)
    "dump": pa.string(),
    "phase": pa.string(),
    # provenance of LLM-generated documents (synthetic/): the document it came from, the task,
    # the prompt version (name@vN#digest), the model and the sampling settings (canonical JSON)
    "source_id": pa.string(),
    "task": pa.string(),
    "prompt": pa.string(),
    "model": pa.string(),
    "sampling": pa.string(),
    # LLM page cleanup (synthetic/tasks/cleanup.py): the page's chunk outcomes (JSON: chunks, cleaned, original and
    # dropped by reason, no_useful)
    "cleanup": pa.string(),
    # SFT and RL prompts (synthetic/tasks/): how the item was made (topic_tree, self_instruct, magpie, ...), its
    # category (open_qa, writing, math, coding, closed_qa, ...), the items it was made from, every generation
    # step (JSON list of {step, prompt, model, sampling}), the conversation, the grounding passage of a closed-QA
    # prompt, and an RL prompt's reward spec (JSON, synthetic/verifiers/base.py)
    "method": pa.string(),
    "category": pa.string(),
    "parent_ids": pa.list_(pa.string()),
    "generation": pa.string(),
    "messages": pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])),
    "context": pa.string(),
    "reward_spec": pa.string(),
}

ANNOTATION_FIELDS: dict[str, pa.DataType] = {
    # classifier name -> score (quality classifiers, math/code domain scores)
    "scores": pa.map_(pa.string(), pa.float32()),
    "quality_bucket": pa.int8(),
    "quality_tier": pa.string(),
    "cluster_id": pa.string(),
    "cluster_size": pa.int32(),
    "flags": pa.list_(pa.string()),
    # "benchmark/item" keys of benchmark items found in the text, and the covered fraction
    "contamination": pa.list_(pa.string()),
    "contamination_fraction": pa.float32(),
    # RL difficulty filter: the policy's pass rate over its valid rollouts, their number, and the prompt's group
    # (NeMo Gym: all_high, all_low, flat_middle, mixed)
    "pass_rate": pa.float32(),
    "rollouts": pa.int32(),
    "difficulty": pa.string(),
    # math lane: formulas the math extractor kept, and the FineMath-style 0-5 math quality score
    "math_formulas": pa.int32(),
    "math_quality": pa.int8(),
}

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("meta", pa.struct([pa.field(k, t) for k, t in META_FIELDS.items()])),
        pa.field("annotations", pa.struct([pa.field(k, t) for k, t in ANNOTATION_FIELDS.items()])),
    ]
)


@dataclass(slots=True)
class Document:
    """One document: stable id, text, source kind, typed metadata and annotations."""

    id: str
    text: str
    source: str = "web"
    meta: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)

    # datatrove's steps read `metadata` and `media`; aliasing them lets a datatrove
    # filter or writer run on our documents unchanged.
    @property
    def metadata(self) -> dict[str, Any]:
        return self.meta

    @property
    def media(self) -> list:
        return []


def make_id(source: str, locator: str) -> str:
    """Stable id from the source kind and a locator (WARC record id, repo path, ...)."""
    return f"{source}-{xxhash.xxh3_128_hexdigest(locator.encode('utf-8', 'surrogatepass'))}"


def _check_keys(kind: str, keys: Iterable[str], allowed: dict[str, pa.DataType]) -> None:
    unknown = set(keys) - allowed.keys()
    if unknown:
        raise KeyError(f"document {kind} has keys outside the schema: {sorted(unknown)} (add them to core/document.py)")


def to_table(docs: Iterable[Document]) -> pa.Table:
    """Documents to an Arrow table in SCHEMA."""
    ids, texts, sources, metas, anns = [], [], [], [], []
    for d in docs:
        _check_keys("meta", d.meta, META_FIELDS)
        _check_keys("annotations", d.annotations, ANNOTATION_FIELDS)
        ids.append(d.id)
        texts.append(d.text)
        sources.append(d.source)
        metas.append(d.meta or None)
        ann = d.annotations
        if ann and "scores" in ann and isinstance(ann["scores"], dict):
            ann = {**ann, "scores": list(ann["scores"].items())}
        anns.append(ann or None)
    return pa.Table.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.array(texts, pa.large_string()),
            pa.array(sources, pa.string()),
            pa.array(metas, SCHEMA.field("meta").type),
            pa.array(anns, SCHEMA.field("annotations").type),
        ],
        schema=SCHEMA,
    )


def _clean(struct: dict | None) -> dict:
    return {k: v for k, v in struct.items() if v is not None} if struct else {}


def from_table(table: pa.Table) -> Iterator[Document]:
    """Arrow table (SCHEMA, or a subset of its columns) back to documents."""
    cols = table.column_names
    n = table.num_rows
    ids = table.column("id").to_pylist()
    texts = table.column("text").to_pylist()
    sources = table.column("source").to_pylist() if "source" in cols else ["web"] * n
    metas = table.column("meta").to_pylist() if "meta" in cols else [None] * n
    anns = table.column("annotations").to_pylist() if "annotations" in cols else [None] * n
    for i in range(n):
        ann = _clean(anns[i])
        if "scores" in ann:
            ann["scores"] = dict(ann["scores"])
        yield Document(ids[i], texts[i], sources[i], _clean(metas[i]), ann)
