"""Token batches for proxy training, read memory-mapped from Megatron `.bin/.idx` shards.

A *source* is a named list of shard prefixes with a blend weight. Each source's documents are one token stream; the
last documents of the stream (at least `val_fraction` of its tokens) are held out as that source's validation split.
A training batch is a pure function of (seed, step), so resuming at step s reads exactly what an uninterrupted run
reads, with no loader state to save. Sample i goes to the source whose cumulative-weight interval holds u_i, the i-th
point of a golden-ratio (Weyl) sequence: like the greedy assignment of Megatron's BlendedDataset, the realised shares
stay within O(log n / n) of the weights, rather than the O(1 / sqrt n) of independent draws. The window a sample reads
is seeded by (seed, source, i) alone, so two runs that differ only in their weights share their randomness: a run
with more weight on a source sees a superset of the other's windows of it. Mixture ablations then compare mixtures,
not sampling luck. Windows cross document boundaries just as Megatron's packed GPT dataset does (documents are
separated by the EOD token the shard writer appends).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpusforge.core import storage
from corpusforge.mixtures.megatron_writer import read_index

GOLDEN = (np.sqrt(5.0) - 1) / 2  # the Weyl step with the most even coverage of [0, 1)


class DataSource(BaseModel):
    """One blend component: shard prefixes (`<prefix>.bin` + `<prefix>.idx`) and its sampling weight."""

    model_config = ConfigDict(extra="forbid")
    name: str
    prefixes: list[str] = Field(min_length=1)
    weight: float = Field(1.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _one_prefix(cls, data):
        # Accept the plain {prefix, weight, name} form as well as a list of prefixes.
        if isinstance(data, dict) and "prefix" in data:
            data = {**data, "prefixes": [data["prefix"]]}
            data.pop("prefix")
        return data


def sources_from_manifest(path: str | Path) -> tuple[list[DataSource], int]:
    """A mix manifest's phases as sources (weighted by their tokens) and the tokenizer's vocabulary size."""
    from corpusforge.mixtures.manifest import load_mix_manifest

    manifest = load_mix_manifest(str(path))
    sources = [
        DataSource(name=p.name, prefixes=[manifest.path(s.prefix) for s in p.shards], weight=p.tokens)
        for p in manifest.phases
        if p.shards
    ]
    return sources, manifest.tokenizer.vocab_size


class TokenStream:
    """The documents of several shards back to back, memory-mapped; `read(start, n)` stitches across shards."""

    def __init__(self, prefixes: list[str]):
        self.arrays: list[np.ndarray] = []
        self.doc_ends: list[np.ndarray] = []  # token offset (in this stream) where each document ends
        offset = 0
        for prefix in prefixes:
            dtype, lengths, _ = read_index(storage.read_bytes(prefix + ".idx"))
            total = int(lengths.sum())
            local = storage.filesystem(prefix + ".bin")[1]
            self.arrays.append(
                np.memmap(local, dtype=dtype, mode="r", shape=(total,)) if total else np.zeros(0, dtype=dtype)
            )
            self.doc_ends.append(offset + np.cumsum(lengths, dtype=np.int64))
            offset += total
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])
        self.tokens = int(self.starts[-1])
        self.doc_ends_all = np.concatenate(self.doc_ends) if self.doc_ends else np.zeros(0, np.int64)

    def read(self, start: int, n: int) -> np.ndarray:
        """Tokens [start, start + n) of the stream as int64."""
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            shard = int(np.searchsorted(self.starts, start + filled, side="right")) - 1
            local = start + filled - int(self.starts[shard])
            take = min(n - filled, len(self.arrays[shard]) - local)
            out[filled : filled + take] = self.arrays[shard][local : local + take]
            filled += take
        return out

    def max_token(self, block: int = 1 << 24) -> int:
        """Largest token id (a vocabulary lower bound when no tokenizer says it)."""
        return max((int(a[i : i + block].max()) for a in self.arrays for i in range(0, len(a), block)), default=0)


class TokenBlend:
    """Weighted training windows and fixed per-source validation windows over several sources."""

    def __init__(self, sources: list[DataSource], seq_len: int, seed: int = 0, val_fraction: float = 0.02):
        if not sources:
            raise ValueError("no data sources")
        self.sources = sources
        self.seq_len = seq_len
        self.seed = seed
        self.streams = [TokenStream(s.prefixes) for s in sources]
        total = sum(s.weight for s in sources)
        if total <= 0:
            raise ValueError("source weights sum to zero")
        self.weights = np.array([s.weight / total for s in sources])
        self.cum_weights = np.cumsum(self.weights)
        self.cum_weights[-1] = 1.0
        self.phase_ends: np.ndarray | None = None  # set by the trainer when the sources are curriculum phases
        self.val_start = []
        for s, stream in zip(sources, self.streams):
            need = max(int(val_fraction * stream.tokens), seq_len + 1)
            # Validation begins at the first document boundary that leaves at least `need` tokens after it.
            ends = stream.doc_ends_all
            candidates = ends[ends <= stream.tokens - need]
            start = int(candidates[-1]) if len(candidates) else 0
            if start < seq_len + 1 and s.weight > 0:
                raise ValueError(
                    f"source {s.name!r}: {stream.tokens} tokens are too few for training windows of "
                    f"{seq_len + 1} plus a validation split of {need}"
                )
            self.val_start.append(start)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def batch(
        self, step: int, batch_size: int, only: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """(inputs, targets, source index per row) for this step; the same step always gives the same batch.

        `only` takes every row from that source (a curriculum phase) instead of blending by weight.
        """
        sample = step * batch_size + np.arange(batch_size)
        picks = self.assign(sample) if only is None else np.full(batch_size, only)
        rows = np.empty((batch_size, self.seq_len + 1), dtype=np.int64)
        for r, (i, s) in enumerate(zip(sample.tolist(), picks.tolist())):
            start = int(np.random.default_rng([self.seed, s, i]).integers(0, self.val_start[s] - self.seq_len))
            rows[r] = self.streams[s].read(start, self.seq_len + 1)
        t = torch.from_numpy(rows)
        return t[:, :-1], t[:, 1:], picks

    def assign(self, sample: np.ndarray) -> np.ndarray:
        """Source index of each global sample index: a golden-ratio sequence cut at the cumulative weights."""
        offset = np.random.default_rng(self.seed).random()
        u = (offset + sample * GOLDEN) % 1.0
        return np.minimum(np.searchsorted(self.cum_weights, u, side="right"), len(self.sources) - 1)

    def val_batches(self, source: int, batch_size: int, max_batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive non-overlapping windows of one source's held-out split, in fixed batches."""
        stream, start = self.streams[source], self.val_start[source]
        n = min((stream.tokens - start - 1) // self.seq_len, batch_size * max_batches)
        rows = [stream.read(start + i * self.seq_len, self.seq_len + 1) for i in range(n)]
        out = []
        for i in range(0, n, batch_size):
            t = torch.from_numpy(np.stack(rows[i : i + batch_size]))
            out.append((t[:, :-1], t[:, 1:]))
        return out

    def vocab_size(self) -> int:
        """Smallest vocabulary that holds every token id of every source."""
        return max(stream.max_token() for stream in self.streams) + 1
