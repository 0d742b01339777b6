"""The mix manifest: what a blended export wrote, shard by shard, for trainers and reports.

Format `corpusforge-mix/1` (stable; fields are only ever added). One file per export at
`<output>/mix_manifest.json`. Shard prefixes are stored relative to the output directory;
`MixManifest.prefixes()` gives the absolute prefixes megatron-core's `IndexedDataset` opens
(`<prefix>.bin` + `<prefix>.idx`). Phases are listed in training order, shards in reading order.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from corpusforge.core import storage

MANIFEST_NAME = "mix_manifest.json"
FORMAT = "corpusforge-mix/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenizerInfo(_Model):
    """The tokenizer the shards were written with."""

    path: str  # tokenizer.json copied next to the manifest (relative to the output dir)
    sha256: str
    vocab_size: int
    eod_id: int | None  # appended after every document when not None
    dtype: str  # numpy dtype of the .bin tokens: "uint16" (vocab < 65500) or "int32"


class ShardEntry(_Model):
    """One Megatron indexed dataset (`prefix.bin` + `prefix.idx`); one sequence per document."""

    prefix: str  # relative to the output directory, e.g. "phase1/shard_00000"
    phase: str
    tokens: int
    documents: int
    tokens_by_source: dict[str, int]
    documents_by_source: dict[str, int]
    bin_bytes: int
    bin_sha256: str
    idx_bytes: int
    idx_sha256: str


class PhaseEntry(_Model):
    """One curriculum phase: planned against realised mixture and its shards in order."""

    name: str
    planned_tokens: int
    tokens: int
    documents: int
    weights: dict[str, float]  # requested share per source (sums to 1)
    shares: dict[str, float]  # realised token share per source
    tokens_by_source: dict[str, int]
    documents_by_source: dict[str, int]
    max_share_error: float  # max |share - weight| over sources (absolute, 0.005 = 0.5 points)
    shards: list[ShardEntry]


class SourceEntry(_Model):
    """One blend source: what it holds and how much of it the mixture used."""

    name: str
    files: list[str]
    documents: int  # unique documents matching the selector
    tokens: int  # unique tokens (EOD included)
    requested_tokens: int
    used_tokens: int
    used_documents: int
    epochs: float  # used_tokens / tokens
    max_epochs: float


class MixManifest(_Model):
    """Everything an export wrote; load it with `load_mix_manifest`."""

    format: str = FORMAT
    name: str
    seed: int
    spec_digest: str
    token_budget: int
    tokens: int
    documents: int
    shard_tokens: int
    tokenizer: TokenizerInfo
    sources: list[SourceEntry]
    phases: list[PhaseEntry]
    report: str | None = None  # report.html, relative to the output directory
    root: str = Field("", exclude=True)  # output directory, set when loaded

    def phase(self, name: str) -> PhaseEntry:
        """The phase named `name`."""
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no phase {name!r} in manifest; phases: {[p.name for p in self.phases]}")

    def shards(self, phase: str | None = None) -> list[ShardEntry]:
        """Shards in reading order: of one phase, or of all phases in curriculum order."""
        phases = [self.phase(phase)] if phase else self.phases
        return [s for p in phases for s in p.shards]

    def prefixes(self, phase: str | None = None) -> list[str]:
        """Absolute shard prefixes (what `IndexedDataset(prefix)` takes), in reading order."""
        return [self.path(s.prefix) for s in self.shards(phase)]

    def path(self, relative: str) -> str:
        """A manifest-relative path made absolute (local or s3://)."""
        return storage.join(self.root, relative) if self.root else relative

    def tokenizer_path(self) -> str:
        return self.path(self.tokenizer.path)


def manifest_path(output: str) -> str:
    return storage.join(output, MANIFEST_NAME)


def load_mix_manifest(path: str) -> MixManifest:
    """Read a mix manifest: its file, or the export's output directory holding it."""
    path = str(path)
    if not path.endswith(".json"):
        path = manifest_path(path)
    data = json.loads(storage.read_text(path))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a corpusforge mix manifest (format {data.get('format')!r}, want {FORMAT})")
    manifest = MixManifest.model_validate(data)
    manifest.root = path.rsplit("/", 1)[0] if "/" in path else "."
    return manifest


def write_mix_manifest(output: str, manifest: MixManifest) -> str:
    """Write the manifest atomically under `output`; returns its path."""
    path = manifest_path(output)
    storage.write_text(path, json.dumps(manifest.model_dump(mode="json"), indent=1) + "\n")
    return path
