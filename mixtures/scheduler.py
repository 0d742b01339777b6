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

import numpy as np

from corpusforge.mixtures.spec import BlendSpec

# Documents looked at past the cut point to fill a source's last gap without overshooting.
LOOKAHEAD = 512


@dataclass
class SourceDocs:
    """Every selected document of one source: cache file id, index in that file, token length."""

    name: str
    file_ids: np.ndarray  # int32, index into the export's list of cache prefixes
    doc_ids: np.ndarray  # int64
    lengths: np.ndarray  # int64 (EOD included)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass
class PhasePlan:
    """One phase: its documents in shard order, cut into shards."""

    name: str
    planned_tokens: int
    source_ids: np.ndarray  # int16 index into the blend's source order
    file_ids: np.ndarray
    doc_ids: np.ndarray
    lengths: np.ndarray
    shard_bounds: list[tuple[int, int]]  # [start, end) document ranges


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
    order = np.concatenate([_rng(seed, src.name, e).permutation(n) for e in range(epochs)])
    cap = max_epochs * src.tokens
    within = np.cumsum(src.lengths[order]) <= cap * (1 + 1e-12)
    return order[:int(within.sum())]


def _take(stream: np.ndarray, lengths: np.ndarray, start: int, target: float) -> int:
    """Reorder the look-ahead window of `stream` in place and return the end of the documents that fill `target`."""
    if target <= 0 or start >= len(stream):
        return start
    cum = np.cumsum(lengths[stream[start:]])
    k = start + int(np.searchsorted(cum, target, side="right"))
    remaining = target - (int(cum[k - start - 1]) if k > start else 0)
    while remaining > 0 and k < len(stream):
        window = lengths[stream[k:k + LOOKAHEAD]]
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
    return [_phase_plan(spec, phase.name, budget[phase.name], names, sources, picked[phase.name])
            for phase in spec.phases]


def _phase_plan(spec: BlendSpec, phase: str, planned: int, names: list[str], sources: dict[str, SourceDocs],
                picked: dict[str, np.ndarray]) -> PhasePlan:
    keys, sids, fids, dids, lens = [], [], [], [], []
    rng = _rng(spec.seed, "interleave", phase)
    for s, name in enumerate(names):
        pos = picked[name]
        if len(pos) == 0:
            continue
        src = sources[name]
        length = src.lengths[pos]
        total = float(length.sum())
        before = np.cumsum(length) - length
        # Progress through the source's share of the phase: sorting on it spreads every source
        # evenly over the phase; the jitter keeps equal-progress documents in seeded random order.
        keys.append((before + rng.random(len(pos)) * length) / total)
        sids.append(np.full(len(pos), s, dtype=np.int16))
        fids.append(src.file_ids[pos])
        dids.append(src.doc_ids[pos])
        lens.append(length)
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return PhasePlan(phase, planned, empty.astype(np.int16), empty.astype(np.int32), empty, empty, [])
    order = np.argsort(np.concatenate(keys), kind="stable")
    lengths = np.concatenate(lens)[order]
    return PhasePlan(phase, planned, np.concatenate(sids)[order], np.concatenate(fids)[order],
                     np.concatenate(dids)[order], lengths, shard_bounds(lengths, spec.shard_tokens))


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
