"""The pipeline schema: a reader, stages in order, an engine and an output, validated before any work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError, field_validator

from corpusforge.core.config import EngineConfig, describe, load_yaml_model, validate_model
from corpusforge.pipelines.registry import stage_class
from corpusforge.stages.base import StageConfig


class PipelineConfig(BaseModel):
    """A pipeline: a reader over input files, stages in order, an engine and an output prefix."""

    model_config = ConfigDict(extra="forbid")

    name: str = "pipeline"
    # SerializeAsAny: dump each stage's own fields, not just the base model's.
    input: SerializeAsAny[StageConfig]
    stages: list[SerializeAsAny[StageConfig]] = []
    output: str
    engine: EngineConfig = EngineConfig()
    progress: bool = True

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, v: Any) -> StageConfig:
        return _stage_config(v, "input")

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, v: Any) -> list[StageConfig]:
        if not isinstance(v, list):
            raise ValueError("must be a list of stages")
        configs = [_stage_config(s, f"stages[{i}]") for i, s in enumerate(v)]
        names = [c.name or c.type for c in configs]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"stage names must be unique, repeated: {sorted(dup)} (set `name:` on one)")
        return configs

    def digest(self) -> str:
        """Hash of the validated config: the run manifest's config hash."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def _stage_config(raw: Any, where: str) -> StageConfig:
    if isinstance(raw, StageConfig):
        return raw
    if not isinstance(raw, dict) or "type" not in raw:
        raise ValueError(f"{where}: each stage is a mapping with a `type`")
    try:
        cls = stage_class(raw["type"])
    except KeyError as e:
        raise ValueError(f"{where}.type: {e.args[0]}") from None
    try:
        return cls.Config(**raw)
    except ValidationError as e:
        raise ValueError(f"{where} ({raw['type']}): " + describe(e)) from None


def load_pipeline(path: str | Path, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read, override and validate a pipeline YAML; raises ConfigError naming the field."""
    return load_yaml_model(path, PipelineConfig, "pipeline", "`input`, `stages` and `output`", overrides)


def validate_pipeline(data: dict[str, Any], where: str = "pipeline") -> PipelineConfig:
    return validate_model(PipelineConfig, data, where)
