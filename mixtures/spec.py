"""The blend spec: sources with selectors, a token budget split into curriculum phases, weights, epoch caps.

A blend is YAML validated by typed models before any work starts; every error names its field.
Whether each source is big enough for its weights at its epoch cap needs token counts, so that
check (`check_feasibility`) runs on the counting pass, again before any shard is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpusforge.core.config import ConfigError, EngineConfig, load_yaml_model, validate_model

# Weights and phase fractions are written by people as rounded decimals; they must sum to one
# within this tolerance and are then normalised exactly.
SUM_TOLERANCE = 1e-3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selector(_Strict):
    """Which documents of the source's files belong to it (all given conditions must hold)."""

    source: list[str] | None = None  # document `source` field: web, code, math, synthetic, ...
    language: list[str] | None = None  # meta.language
    min_language_score: float | None = None  # meta.language_score
    quality_tier: list[str] | None = None  # annotations.quality_tier (e.g. high, medium-high, ...)
    min_quality_bucket: int | None = None  # annotations.quality_bucket (0-19, Nemotron-CC's 20 buckets)
    max_quality_bucket: int | None = None
    # annotations.math_quality (0-5, FineMath-style; Nemotron-CC-Math releases 3+ and 4+)
    min_math_quality: int | None = None
    # Drop documents decontamination flagged: Nemotron-CC removes benchmark overlap before blending.
    exclude_contaminated: bool = True

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


class SourceSpec(_Strict):
    """Parquet files (core schema) — paths, globs or earlier run outputs — plus a selector and an epoch cap."""

    paths: list[str] = Field(min_length=1)
    where: Selector = Selector()
    # At most four passes over a source: Muennighoff et al. 2023 ("Scaling Data-Constrained
    # Language Models") find up to ~4 epochs about as useful as fresh data.
    max_epochs: float = Field(4.0, gt=0)


class TokenizerSpec(_Strict):
    """A tokenizer.json to use, or the settings to train a byte-level BPE on a sample of the sources."""

    path: str | None = None
    train_vocab_size: int | None = Field(None, ge=260)
    train_sample_docs: int = Field(20000, ge=1)
    eod_token: str | None = "<|endoftext|>"  # appended after every document (Megatron's --append-eod)
    batch_size: int = Field(1000, ge=1)  # documents per encode_batch call

    @model_validator(mode="after")
    def _one_source(self) -> TokenizerSpec:
        if (self.path is None) == (self.train_vocab_size is None):
            raise ValueError("set exactly one of `path` (a tokenizer.json) or `train_vocab_size`")
        return self


class PhaseSpec(_Strict):
    """One curriculum phase: its fraction of the token budget and the source weights within it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    fraction: float = Field(gt=0, le=1)
    weights: dict[str, float]

    @model_validator(mode="after")
    def _weights(self) -> PhaseSpec:
        bad = {k: v for k, v in self.weights.items() if v < 0}
        if bad:
            raise ValueError(f"weights must be >= 0, got {bad}")
        total = sum(self.weights.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"weights must sum to 1, they sum to {total:.6g}")
        return self


class BlendSpec(_Strict):
    """A blend: named sources, a token budget, curriculum phases, tokenizer, shard size, seed."""

    name: str = "blend"
    output: str
    seed: int = 0
    token_budget: int = Field(gt=0)
    # ~1 GiB of uint16 tokens per shard; Megatron reads many shards of any size.
    shard_tokens: int = Field(1 << 29, gt=0)
    sources: dict[str, SourceSpec] = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    tokenizer: TokenizerSpec
    engine: EngineConfig = EngineConfig()
    # Where token caches and shard plans go; default `<output>/_work`.
    work_dir: str | None = None
    progress: bool = True

    @model_validator(mode="after")
    def _phases(self) -> BlendSpec:
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phases: names must be unique, got {names}")
        total = sum(p.fraction for p in self.phases)
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"phases: fractions must sum to 1, they sum to {total:.6g}")
        for i, p in enumerate(self.phases):
            unknown = sorted(set(p.weights) - set(self.sources))
            if unknown:
                raise ValueError(f"phases.{i}.weights: unknown sources {unknown}; defined: {sorted(self.sources)}")
        unused = sorted(s for s in self.sources if not any(p.weights.get(s, 0) > 0 for p in self.phases))
        if unused:
            raise ValueError(f"sources: {unused} have no weight in any phase (remove them or give them a weight)")
        return self

    def phase_tokens(self) -> dict[str, int]:
        """Planned tokens per phase: the budget split by (normalised) fractions, summing to the budget."""
        total = sum(p.fraction for p in self.phases)
        out, given = {}, 0
        for i, p in enumerate(self.phases):
            last = i == len(self.phases) - 1
            n = self.token_budget - given if last else round(self.token_budget * p.fraction / total)
            out[p.name] = n
            given += n
        return out

    def weights(self, phase: PhaseSpec) -> dict[str, float]:
        """The phase's weights over every source, normalised to sum exactly to one."""
        total = sum(phase.weights.values())
        return {s: phase.weights.get(s, 0.0) / total for s in self.sources}

    def requested_tokens(self) -> dict[str, dict[str, float]]:
        """Source -> phase -> tokens the weights ask for."""
        budget = self.phase_tokens()
        return {s: {p.name: budget[p.name] * self.weights(p)[s] for p in self.phases} for s in self.sources}

    def digest(self) -> str:
        """Hash of everything that decides the shards' bytes (not engine, progress or paths of work)."""
        data = self.model_dump(mode="json", exclude={"engine", "progress", "work_dir"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def work(self) -> str:
        from corpusforge.core import storage

        return self.work_dir or storage.join(self.output, "_work")


def load_blend(path: str | Path, overrides: Sequence[str] = ()) -> BlendSpec:
    """Read, override and validate a blend YAML; raises ConfigError naming the field."""
    return load_yaml_model(path, BlendSpec, "blend", "`sources`, `phases`, `tokenizer` and `output`", overrides)


def validate_blend(data: dict[str, Any], where: str = "blend") -> BlendSpec:
    """Validate a blend mapping; raises ConfigError naming the offending field."""
    return validate_model(BlendSpec, data, where)


def check_feasibility(
    spec: BlendSpec, available: dict[str, int], documents: dict[str, int], upper: dict[str, int] | None = None
) -> None:
    """Raise ConfigError naming every source too small for its weights at its epoch cap.

    `available` holds each source's unique tokens (EOD included). A source is unsatisfiable when the
    tokens its weights ask for exceed `max_epochs` passes over it. Before tokenizing, counts are
    estimates: `upper` then holds a high-side bound and only a shortfall even against it fails, so a
    borderline source is left to the exact check after tokenizing.
    """
    problems = []
    requested = spec.requested_tokens()
    for name, src in spec.sources.items():
        ask = sum(requested[name].values())
        have = available.get(name, 0)
        if have == 0:
            problems.append(
                f"sources.{name}: no documents match `where` in {len(src.paths)} path pattern(s), "
                f"but phases give it weight ({_per_phase(requested[name])})"
            )
            continue
        bound = upper.get(name, have) if upper else have
        if ask > bound * src.max_epochs * (1 + 1e-9):
            cap = have * src.max_epochs
            need = ask / have
            share = cap / ask
            held = f"~{have:,} tokens (estimated from a sample; at most ~{bound:,})" if upper else f"{have:,} tokens"
            problems.append(
                f"sources.{name}: weights ask for {ask:,.0f} tokens ({_per_phase(requested[name])}) but the source "
                f"holds {held} in {documents.get(name, 0):,} documents, so max_epochs {src.max_epochs:g} allows "
                f"at most {cap:,.0f}; it would need {need:.2f} epochs. Scale its weights by <= {share:.3f}, raise "
                f"sources.{name}.max_epochs to >= {need:.2f}, or lower token_budget to "
                f"<= {int(spec.token_budget * share):,}"
            )
    if problems:
        raise ConfigError("blend cannot be satisfied:\n  " + "\n  ".join(problems))


def _per_phase(per_phase: dict[str, float]) -> str:
    return ", ".join(f"{p}: {t:,.0f}" for p, t in per_phase.items())
