"""Benchmark decontamination: find evaluation items in documents by normalised n-gram overlap.

The recipe is GPT-3's (Brown et al. 2020, appendix C): a document that shares a 13-gram with a
test item is contaminated; it is dropped, or the colliding span is cut out with 200 characters
on each side (fragments under 200 characters go, and a document cut into more than 10 pieces
goes whole), or only flagged. Each decision depends on the document and the index alone, so the
result is the same however the corpus is split into tasks or which engine runs them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import Field

from corpusforge.core import markers, storage
from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig
from corpusforge.stages.decontam.benchmark_sets import BenchmarkSpec, benchmark_files, load_benchmark
from corpusforge.stages.decontam.ngram_index import (
    NORMALISER_VERSION,
    BenchmarkIndex,
    build_index,
    digest,
    load_index_cached,
    ngrams_batch,
)

log = logging.getLogger(__name__)

# GPT-3 (Brown et al. 2020, appendix C) uses 13-word n-grams; for code in char mode, 50
# non-space characters is about one line (the n-gram length used by The Stack's decontamination
# scripts is of the same order).
DEFAULT_NGRAM = {"word": 13, "char": 50, "math": 13}


@dataclass
class Finding:
    """What one document contains: the items found, the covered fraction, the matched spans."""

    items: list[str]  # "benchmark/item_id", sorted
    fraction: float  # share of the document's tokens (chars in char mode) inside matched n-grams
    spans: list[tuple[int, int]]  # merged character spans of the matched n-grams
    ngram_hits: int


class Decontaminate(Stage):
    """Drops, cuts or flags documents that contain benchmark items (GPT-3 13-gram overlap)."""

    type = "decontaminate"
    config: Config

    class Config(StageConfig):
        benchmarks: list[BenchmarkSpec] = Field(min_length=1)
        ngram: int | None = Field(None, ge=1)  # None: 13 words (GPT-3 app. C) / 50 chars in char mode
        # char: whitespace-insensitive, for code; math: words with LaTeX read as math (\\sin, \\pi, \\frac12,
        # "2x", "x²"), for the math lane (stages/decontam/ngram_index.py `_math_markup`)
        mode: Literal["word", "char", "math"] = "word"
        policy: Literal["drop", "cut", "flag"] = "drop"
        margin: int = Field(200, ge=0)  # GPT-3 app. C: 200 characters removed on each side
        min_matches: int = Field(1, ge=1)  # GPT-3: one colliding n-gram is enough
        min_piece_chars: int = Field(200, ge=0)  # GPT-3: fragments under 200 characters dropped
        max_pieces: int = Field(10, ge=1)  # GPT-3: a document cut into more than 10 pieces is removed
        # n-grams shared by more than this many items are templates, not evidence of one item
        max_items_per_ngram: int | None = Field(10, ge=1)
        index_path: str | None = None  # default: <run>/_work/decontaminate/<name>-<digest>.npz
        batch_chars: int = Field(1 << 20, ge=1)  # documents are hashed in batches of about this size
        examples_per_benchmark: int = Field(3, ge=0)  # per task; the merged ledger keeps at most 50

        def input_paths(self) -> dict[str, list[str]]:
            return {f"benchmarks[{i}].path": [b.path] for i, b in enumerate(self.benchmarks)}

    config: Config

    @property
    def n(self) -> int:
        return self.config.ngram or DEFAULT_NGRAM[self.config.mode]

    def spec(self) -> dict:
        """What the index depends on: benchmarks, their files' sizes, n-gram settings, normaliser."""
        c = self.config
        files = []
        for b in c.benchmarks:
            for path in benchmark_files(b):
                fs, p = storage.filesystem(path)
                files.append([path, fs.size(p)])
        return {
            "benchmarks": [b.model_dump(mode="json") for b in c.benchmarks],
            "files": files,
            "n": self.n,
            "mode": c.mode,
            "max_items_per_ngram": c.max_items_per_ngram,
            "normaliser": NORMALISER_VERSION,
        }

    def before_run(self, run_dir: str) -> None:
        """Build and store the index once, on the driver, before any task; tasks load it from there."""
        spec = self.spec()
        key = digest(spec)
        path = self.config.index_path or storage.join(run_dir, "_work", "decontaminate", f"{self.name}-{key}.npz")
        # The index file is the unit: its marker (`<path>.done.json`) holds the digest of what it indexes.
        done = markers.committed(path)
        if done is None or done.get("spec_digest") != key or not storage.exists(path):
            markers.uncommit(path)
            index = _build(self.config, self.n)
            index.meta["spec_digest"] = key
            index.save(path)
            markers.commit(path, {"spec_digest": key, "items": index.meta["items"], "ngrams": index.meta["ngrams"]})
            log.info(
                "decontaminate: indexed %s items (%s n-grams) into %s", index.meta["items"], index.meta["ngrams"], path
            )
        # The runner ships this config to the tasks after before_run: they load the stored index.
        self.config.index_path = path

    def setup(self) -> None:
        c = self.config
        if c.index_path and storage.exists(c.index_path):
            self.index = load_index_cached(c.index_path)
        else:  # run outside the runner (or index not stored): build once per worker process
            self.index = _build_cached(c.model_dump_json(include={"benchmarks", "mode", "max_items_per_ngram"}), self.n)
        if self.index.n != self.n or self.index.mode != c.mode:
            raise ValueError(
                f"{c.index_path}: index is {self.index.mode} {self.index.n}-grams, "
                f"the stage wants {c.mode} {self.n}-grams"
            )
        m = self.index.meta
        self.ledger.extra["index"] = (
            f"{m.get('items')} items, {m.get('ngrams')} {c.mode} {self.n}-grams, "
            f"{m.get('items_too_short', 0)} items too short to index"
        )

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        batch: list[Document] = []
        size = 0
        for doc in docs:
            batch.append(doc)
            size += len(doc.text)
            if size >= self.config.batch_chars:
                yield from self._process_batch(batch)
                batch, size = [], 0
        if batch:
            yield from self._process_batch(batch)

    def _process_batch(self, batch: list[Document]) -> Iterator[Document]:
        findings = scan(self.index, [d.text for d in batch], self.config.min_matches)
        for doc, finding in zip(batch, findings):
            if finding is None:
                yield doc
                continue
            self._record(doc, finding)
            _annotate(doc, finding)
            policy = self.config.policy
            if policy == "drop":
                self.drop(doc, "contaminated")
            elif policy == "flag":
                flags = list(doc.annotations.get("flags") or [])
                doc.annotations["flags"] = flags if "contaminated" in flags else flags + ["contaminated"]
                yield doc
            else:
                reason = self._cut(doc, finding)
                if reason is None:
                    yield doc
                else:
                    self.drop(doc, reason)

    def _cut(self, doc: Document, finding: Finding) -> str | None:
        """Remove each matched span plus the margin; the drop reason if too little is left."""
        c = self.config
        text = doc.text
        cuts = _merge([(max(0, s - c.margin), min(len(text), e + c.margin)) for s, e in finding.spans])
        pieces, pos = [], 0
        for s, e in cuts:
            pieces.append(text[pos:s])
            pos = e
        pieces.append(text[pos:])
        pieces = [p.strip() for p in pieces if p.strip()]
        if len(pieces) > c.max_pieces:
            return "contaminated_cut_too_many_pieces"
        kept = [p for p in pieces if len(p) >= c.min_piece_chars]
        if not kept:
            return "contaminated_cut_too_short"
        doc.text = "\n\n".join(kept)
        self.ledger.count("chars_cut", len(text) - len(doc.text))
        return None

    def _record(self, doc: Document, finding: Finding) -> None:
        """Ledger: per benchmark, documents affected, items found (with doc counts), a few examples."""
        ledger = self.ledger
        ledger.count("docs_contaminated")
        ledger.count("ngram_hits", finding.ngram_hits)
        ledger.histogram("contamination_fraction", f"{min(int(finding.fraction * 10), 9) / 10:.1f}")
        per_bench: dict[str, list[str]] = defaultdict(list)
        for key in finding.items:
            bench, _, item = key.partition("/")
            per_bench[bench].append(item)
        benches = ledger.extra.setdefault("benchmarks", {})
        snippet = doc.text[finding.spans[0][0] : finding.spans[0][1]][:300]
        for bench, items in per_bench.items():
            entry = benches.setdefault(bench, {"docs_affected": 0, "items": {}, "examples": []})
            entry["docs_affected"] += 1
            for item in items:
                entry["items"][item] = entry["items"].get(item, 0) + 1
            if len(entry["examples"]) < self.config.examples_per_benchmark:
                entry["examples"].append(
                    {
                        "doc_id": doc.id,
                        "items": items[:5],
                        "fraction": round(finding.fraction, 4),
                        "matched_text": snippet,
                    }
                )


def _annotate(doc: Document, finding: Finding) -> None:
    # A second decontaminate stage (another benchmark set) adds to what the first found.
    old = doc.annotations.get("contamination") or []
    doc.annotations["contamination"] = sorted(set(old) | set(finding.items))
    doc.annotations["contamination_fraction"] = max(
        finding.fraction, doc.annotations.get("contamination_fraction") or 0.0
    )


def scan(index: BenchmarkIndex, texts: list[str], min_matches: int = 1) -> list[Finding | None]:
    """For each text, what it contains of the indexed benchmarks (None when clean).

    Fully vectorised: n-gram hits expand to (n-gram, item) pairs, an item counts as found in a
    document when at least `min_matches` of its distinct n-grams occur there, and only n-grams
    of found items make up the covered fraction and the spans.
    """
    grams = ngrams_batch(texts, index.n, index.mode)
    out: list[Finding | None] = [None] * len(texts)
    hits = np.flatnonzero(index.lookup(grams.hashes))
    if not len(hits):
        return out
    # every (hit n-gram, item) pair: the index lists an n-gram once per item that has it
    lo = np.searchsorted(index.hashes, grams.hashes[hits], "left")
    hi = np.searchsorted(index.hashes, grams.hashes[hits], "right")
    per_hit = hi - lo
    pair_gram = np.repeat(hits, per_hit)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(per_hit)[:-1])), per_hit)
    pair_item = index.items[starts + np.arange(len(pair_gram))].astype(np.int64)
    pair_doc = grams.doc[pair_gram].astype(np.int64)
    # distinct n-grams per (document, item): the same n-gram twice in a document counts once
    gram_hash = grams.hashes[pair_gram]
    order = np.lexsort((gram_hash, pair_item, pair_doc))
    pd, pi, ph, pg = pair_doc[order], pair_item[order], gram_hash[order], pair_gram[order]
    new_pair = np.ones(len(order), dtype=bool)
    new_pair[1:] = (pd[1:] != pd[:-1]) | (pi[1:] != pi[:-1])
    new_gram = new_pair.copy()
    new_gram[1:] |= ph[1:] != ph[:-1]
    group = np.cumsum(new_pair) - 1
    found_group = np.bincount(group, weights=new_gram) >= min_matches
    if not found_group.any():
        return out
    matched = np.zeros(len(grams.hashes), dtype=bool)
    matched[pg[found_group[group]]] = True
    g = np.flatnonzero(matched)  # n-grams of found items, in text order
    firsts = new_pair & found_group[group]
    found_docs, found_items = pd[firsts], pi[firsts]
    doc = grams.doc[g]
    # covered units: union of [first, first + n) per document, the n-grams sorted by position
    first = grams.first_unit[g]
    nxt = np.append(first[1:], np.iinfo(np.int64).max)
    same = np.append(doc[1:] == doc[:-1], False)
    covered = np.where(same, np.minimum(nxt - first, index.n), index.n)
    covered_per_doc = np.bincount(doc, weights=covered, minlength=len(texts))
    hits_per_doc = np.bincount(doc, minlength=len(texts))
    # character spans merged per document (span ends grow with the start within a document)
    s, e = grams.span_start[g], grams.span_end[g]
    opens = np.ones(len(g), dtype=bool)
    opens[1:] = (doc[1:] != doc[:-1]) | (s[1:] > e[:-1])
    closes = np.append(opens[1:], True)
    span_doc, span_s, span_e = doc[opens], s[opens], e[closes]
    spans_by_doc: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d, a, b in zip(span_doc.tolist(), span_s.tolist(), span_e.tolist()):
        spans_by_doc[d].append((a, b))
    items_by_doc: dict[int, list[str]] = defaultdict(list)
    for d, i in zip(found_docs.tolist(), found_items.tolist()):
        items_by_doc[d].append(index.keys[i])
    for d, spans in spans_by_doc.items():
        units = max(int(grams.units[d]), 1)
        out[d] = Finding(sorted(items_by_doc[d]), float(covered_per_doc[d]) / units, spans, int(hits_per_doc[d]))
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans merged, in order."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _build(config: Decontaminate.Config, n: int) -> BenchmarkIndex:
    items = (item for spec in config.benchmarks for item in load_benchmark(spec))
    names = ",".join(b.name for b in config.benchmarks)
    return build_index(items, n, config.mode, config.max_items_per_ngram, meta={"benchmarks": names})


@lru_cache(maxsize=4)
def _build_cached(config_json: str, n: int) -> BenchmarkIndex:
    return _build(Decontaminate.Config.model_validate_json(config_json), n)


def contamination_report(extra: dict) -> dict[str, dict]:
    """Per benchmark from a (merged) ledger's extra: items found, documents affected, top items, examples."""
    report = {}
    for bench, entry in sorted((extra.get("benchmarks") or {}).items()):
        items = entry.get("items", {})
        top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        report[bench] = {
            "items_found": len(items),
            "docs_affected": entry.get("docs_affected", 0),
            "top_items": [{"item": k, "docs": v} for k, v in top],
            "examples": entry.get("examples", [])[:5],
        }
    return report
