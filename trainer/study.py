"""STUDY.yaml: a RegMix-style mixture ablation, validated before any proxy trains."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpusforge.core.config import load_yaml_model


class StudySource(BaseModel):
    """One candidate source: its own shards (prefixes), or a mix manifest holding only this source."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    prefixes: list[str] = []
    manifest: str | None = None
    prior: float = Field(1.0, gt=0)  # relative Dirichlet concentration (RegMix centres it on the token shares)

    @model_validator(mode="after")
    def _one(self) -> StudySource:
        if bool(self.prefixes) == bool(self.manifest):
            raise ValueError(f"source {self.name}: give exactly one of `prefixes` or `manifest`")
        return self


class StudySpec(BaseModel):
    """The study: sources, how many proxies, how they train, what loss to minimise and how to fit it."""

    model_config = ConfigDict(extra="forbid")
    name: str = "study"
    out_dir: str
    sources: list[StudySource] = []
    # Or a blend spec (mixtures/): its sources are exported one by one into per-source shards with the blend's
    # tokenizer, `tokens_per_source` each (capped at what the source holds).
    blend: str | None = None
    tokens_per_source: int = Field(2_000_000, gt=0)
    # RegMix (Liu et al. 2024): many small proxies on Dirichlet-sampled mixtures, regression from weights to loss.
    proxies: int = Field(16, ge=2)
    dirichlet_alpha: float = Field(1.0, gt=0)
    include_uniform: bool = True  # one proxy on equal weights, a sanity anchor for the fit
    seed: int = 0
    train: dict[str, Any] = {}  # TrainConfig fields shared by every proxy (preset, seq_len, max_steps, ...)
    # Proxies train concurrently, one process per listed device (e.g. [cuda:0, cuda:1, ...] for a node's GPUs, or
    # [cpu, cpu] on a many-core box); empty: one after another on train.device.
    devices: list[str] = []
    # Target: validation loss to minimise, as weights over the sources' validation splits (default: equal).
    target: dict[str, float] = {}
    regression: Literal["auto", "ridge", "gbm"] = "auto"  # auto: ridge below 24 proxies, gradient boosting above
    candidates: int = Field(100_000, ge=100)  # mixtures scored by the fitted model
    top_average: int = Field(100, ge=1)  # RegMix averages the best-predicted mixtures for a robust recommendation

    @model_validator(mode="after")
    def _check(self) -> StudySpec:
        if bool(self.sources) == bool(self.blend):
            raise ValueError("give `sources` or a `blend`, not both")
        names = [s.name for s in self.sources]
        if self.sources and len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        if self.sources and len(names) < 2:
            raise ValueError("a mixture study needs at least two sources")
        unknown = set(self.target) - set(names) if self.sources else set()
        if unknown:
            raise ValueError(f"target names unknown sources: {sorted(unknown)}")
        if self.devices and "device" in self.train:
            raise ValueError("give `devices` or `train.device`, not both")
        for key in ("sources", "manifest", "out_dir"):
            if key in self.train:
                raise ValueError(f"train.{key} is set by the study")
        return self


def load_study(path: str | Path, overrides: Sequence[str] = ()) -> StudySpec:
    """Parse, override (`key.sub=value`) and validate STUDY.yaml; relative paths stay relative to the working
    directory."""
    return load_yaml_model(path, StudySpec, "study", "`sources`, `target` and `train`", list(overrides))
