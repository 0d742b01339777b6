"""Pipeline configuration: YAML validated by typed models before any work starts."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from corpusforge.stages.base import StageConfig

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, with the offending field named in the message."""


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["local", "spark", "ray"] = "local"
    workers: int = Field(2, ge=1)
    # Spark master URL or Ray address; None starts a local session/cluster.
    address: str | None = None
    # Shuffle width of global steps (exact/fuzzy dedup): files per step, memory per reduce task.
    shuffle_buckets: int = Field(16, ge=1)


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
    from corpusforge.stages.registry import stage_class

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
        raise ValueError(f"{where} ({raw['type']}): " + _describe(e)) from None


def _describe(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors())


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML; list items by index: stages.2.x=1)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        node: Any = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        last = parts[-1]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def load_yaml_model(path: str | Path, model: type[M], what: str, shape: str, overrides: list[str] = ()) -> M:
    """Read a YAML mapping, apply `--set` overrides, validate it as `model`; ConfigError names the field."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read {what} YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} is a mapping with {shape}")
    return validate_model(model, apply_overrides(data, list(overrides)), str(path))


def validate_model(model: type[M], data: dict[str, Any], where: str) -> M:
    """Validate a mapping as `model`; raises ConfigError naming the offending field."""
    try:
        return model(**data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_describe(e)}") from None


def load_pipeline(path: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    """Read, override and validate a pipeline YAML; raises ConfigError naming the field."""
    return load_yaml_model(path, PipelineConfig, "pipeline", "`input`, `stages` and `output`", overrides)


def validate_pipeline(data: dict[str, Any], where: str = "pipeline") -> PipelineConfig:
    return validate_model(PipelineConfig, data, where)
