"""The mixture scheduler: which documents go into each phase and shard, deterministic given the seed.

Each source is read as a stream of seeded permutations of its documents, one per epoch, cut at
`max_epochs` passes. Phases take documents from the stream in curriculum order until each source
reaches `phase tokens x weight`; the tail is filled from a short look-ahead with documents that still
fit, so a source lands within half a document of its target (Nemotron-H-style phases keep whole
documents). Within a phase, documents of all sources are interleaved by their fractional progress
through their source's allocation, so every shard carries the phase's mixture, not one source after
another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from corpusforge.mixtures.spec import BlendSpec

# Documents looked at past the cut point to fill a source's last gap without overshooting.
LOOKAHEAD = 512
# Documents per block when scanning a stream for its cut point.
SCAN_BLOCK = 1 << 20


@dataclass
class SourceDocs:
    """Every selected document of one source: cache file id, index in that file, token length."""

    name: str
    file_ids: np.ndarray  # int32, index into the export's list of cache prefixes
    doc_ids: np.ndarray  # int32 or int64
    lengths: np.ndarray  # int32 or int64 (EOD included); sums and running totals are taken in int64

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass
class PhasePart:
    """One source's documents in a phase: stream positions in reading order and their merged positions."""

    source: int  # index into the blend's source order
    docs: SourceDocs
    pos: np.ndarray  # positions into `docs`, in the source's reading order
    rank: np.ndarray  # position of each in the phase's interleaved order (increasing)


@dataclass
class PhasePlan:
    """One phase: its documents in shard order, cut into shards.

    The interleaved order is kept as each source's merged positions rather than as whole-phase arrays, so the
    driver holds ~8 bytes per document (int32 positions and ranks) and materialises a shard's arrays only when
    its task is written.
    """

    name: str
    planned_tokens: int
    parts: list[PhasePart]
    shard_bounds: list[tuple[int, int]]  # [start, end) document ranges

    @property
    def documents(self) -> int:
        return sum(len(p.pos) for p in self.parts)

    def shard(self, start: int, end: int) -> dict[str, np.ndarray]:
        """source_ids, file_ids, doc_ids and lengths of documents [start, end) of the interleaved order."""
        n = end - start
        out: dict[str, np.ndarray] = {
            "source_ids": np.empty(n, np.int16),
            "file_ids": np.empty(n, np.int32),
            "doc_ids": np.empty(n, np.int64),
            "lengths": np.empty(n, np.int64),
        }
        for part in self.parts:
            lo, hi = np.searchsorted(part.rank, [start, end])
            at, pos = part.rank[lo:hi] - start, part.pos[lo:hi]
            out["source_ids"][at] = part.source
            out["file_ids"][at] = part.docs.file_ids[pos]
            out["doc_ids"][at] = part.docs.doc_ids[pos]
            out["lengths"][at] = part.docs.lengths[pos]
        return out

    # Whole-phase arrays, for inspecting a plan (each call materialises the phase).
    source_ids = property(lambda self: self.shard(0, self.documents)["source_ids"])
    file_ids = property(lambda self: self.shard(0, self.documents)["file_ids"])
    doc_ids = property(lambda self: self.shard(0, self.documents)["doc_ids"])
    lengths = property(lambda self: self.shard(0, self.documents)["lengths"])


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    # Stable across processes and Python versions (unlike hash()).
    words = [seed] + [int(hashlib.sha256(str(k).encode()).hexdigest()[:8], 16) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _stream(src: SourceDocs, max_epochs: float, requested: float, seed: int) -> np.ndarray:
    """Document positions in reading order: one seeded permutation per epoch, cut at max_epochs passes."""
    n = len(src.lengths)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Only the epochs the weights reach (one more for the look-ahead), never past the cap.
    epochs = int(min(np.ceil(max_epochs), np.floor(requested / src.tokens) + 2))
    whole = min(epochs, int(max_epochs))  # epochs that fit under the cap entirely
    dtype = np.int32 if n < 2**31 else np.int64
    parts = [_rng(seed, src.name, e).permutation(n).astype(dtype) for e in range(whole)]
    if epochs > whole:  # the cap falls inside this epoch: keep the documents whose running total stays under it
        last = _rng(seed, src.name, whole).permutation(n).astype(dtype)
        running = whole * src.tokens + np.cumsum(src.lengths[last])
        parts.append(last[: int(np.searchsorted(running, max_epochs * src.tokens * (1 + 1e-12), side="right"))])
    return np.concatenate(parts)


def _count_within(lengths: np.ndarray, stream: np.ndarray, start: int, target: float) -> tuple[int, int]:
    """How many documents of stream[start:] fit in `target` tokens in order, and the tokens they hold.

    Scans in blocks, so a source of billions of documents never needs a whole-stream running total.
    """
    taken = tokens = 0
    for block in range(start, len(stream), SCAN_BLOCK):
        cum = tokens + np.cumsum(lengths[stream[block : block + SCAN_BLOCK]])
        k = int(np.searchsorted(cum, target, side="right"))
        if k:
            taken, tokens = taken + k, int(cum[k - 1])
        if k < len(cum):
            break
    return taken, tokens


def _take(stream: np.ndarray, lengths: np.ndarray, start: int, target: float) -> int:
    """Reorder the look-ahead window of `stream` in place and return the end of the documents that fill `target`."""
    if target <= 0 or start >= len(stream):
        return start
    taken, tokens = _count_within(lengths, stream, start, target)
    k, remaining = start + taken, target - tokens
    while remaining > 0 and k < len(stream):
        window = lengths[stream[k : k + LOOKAHEAD]]
        fits = np.flatnonzero(window <= remaining)
        if len(fits):
            j = k + int(fits[0])
            stream[k], stream[j] = stream[j], stream[k]
            remaining -= int(lengths[stream[k]])
            k += 1
            continue
        # Nothing fits: take the next document only if overshooting beats falling short.
        if int(lengths[stream[k]]) - remaining < remaining:
            k += 1
        break
    return k


def schedule(spec: BlendSpec, sources: dict[str, SourceDocs]) -> list[PhasePlan]:
    """Plan every phase's documents and shards; the same spec, data and seed give the same plan."""
    budget = spec.phase_tokens()
    names = list(spec.sources)
    picked: dict[str, dict[str, np.ndarray]] = {p.name: {} for p in spec.phases}
    for name in names:
        src = sources[name]
        requested = sum(budget[p.name] * spec.weights(p)[name] for p in spec.phases)
        stream = _stream(src, spec.sources[name].max_epochs, requested, spec.seed)
        pos = 0
        for phase in spec.phases:
            target = budget[phase.name] * spec.weights(phase)[name]
            end = _take(stream, src.lengths, pos, target)
            picked[phase.name][name] = stream[pos:end].copy()
            pos = end
    return [
        _phase_plan(spec, phase.name, budget[phase.name], names, sources, picked[phase.name]) for phase in spec.phases
    ]


def _phase_plan(
    spec: BlendSpec,
    phase: str,
    planned: int,
    names: list[str],
    sources: dict[str, SourceDocs],
    picked: dict[str, np.ndarray],
) -> PhasePlan:
    keys = {}
    rng = _rng(spec.seed, "interleave", phase)
    for name in names:
        pos = picked[name]
        if len(pos) == 0:
            continue
        length = sources[name].lengths[pos]
        before = np.cumsum(length) - length
        # Progress through the source's share of the phase: ordering on it spreads every source evenly over the
        # phase; the jitter keeps equal-progress documents in seeded random order. Non-decreasing within a source.
        keys[name] = (before + rng.random(len(pos)) * length) / float(length.sum())
    parts = [
        PhasePart(s, sources[name], _compact(picked[name], len(sources[name].lengths)), rank)
        for s, name, rank in _merged_ranks(names, keys)
    ]
    total = sum(len(p.pos) for p in parts)
    lengths = np.empty(total, np.int64)
    for part in parts:
        lengths[part.rank] = part.docs.lengths[part.pos]
    return PhasePlan(phase, planned, parts, shard_bounds(lengths, spec.shard_tokens))


def _merged_ranks(names: list[str], keys: dict[str, np.ndarray]):
    """Each source's positions in the stable merge of all sources' sorted keys (ties: blend order first).

    Equal to a stable argsort of the concatenated keys, without the concatenation or the argsort: a document's
    position is its index in its own source plus, per other source, how many of that source's keys sort before it.
    """
    order = [n for n in names if n in keys]
    total = sum(len(k) for k in keys.values())
    dtype: type[np.signedinteger] = np.int32 if total < 2**31 else np.int64
    for s, name in enumerate(names):
        if name not in keys:
            continue
        mine = keys[name]
        rank = np.arange(len(mine), dtype=dtype)
        for other in order:
            if other != name:
                side: Literal["left", "right"] = "right" if names.index(other) < s else "left"
                rank += np.searchsorted(keys[other], mine, side=side).astype(dtype)
        yield s, name, rank


def _compact(pos: np.ndarray, n: int) -> np.ndarray:
    return pos.astype(np.int32, copy=False) if n < 2**31 else pos


def shard_bounds(lengths: np.ndarray, shard_tokens: int) -> list[tuple[int, int]]:
    """Cut documents into shards of about `shard_tokens` each, at document boundaries."""
    bounds, start, n = [], 0, len(lengths)
    cum = np.cumsum(lengths)
    while start < n:
        base = int(cum[start - 1]) if start else 0
        end = int(np.searchsorted(cum, base + shard_tokens, side="left")) + 1
        end = min(max(end, start + 1), n)
        bounds.append((start, end))
        start = end
    return bounds
