"""Configuration: YAML validated by typed models before any work starts; errors name the field."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpusforge.core.shuffle import DEFAULT_BUCKETS

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
    shuffle_buckets: int = Field(DEFAULT_BUCKETS, ge=1)


def describe(e: ValidationError) -> str:
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


def load_yaml_model(path: str | Path, model: type[M], what: str, shape: str, overrides: Sequence[str] = ()) -> M:
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
        raise ConfigError(f"{where}: {describe(e)}") from None
