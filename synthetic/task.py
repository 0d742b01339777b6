"""A generation task: a versioned prompt, token-based chunking, sampling settings and post-processing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from corpusforge.synthetic.backends.base import SamplingSettings
from corpusforge.synthetic.chunking import ChunkingConfig
from corpusforge.synthetic.postprocess import PostProcessConfig
from corpusforge.synthetic.prompt_template import PromptTemplate, load_prompt


class TaskConfig(BaseModel):
    """Everything that decides what is asked of the model for one document and what is kept."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")  # outputs get `source: synthetic/<name>`
    prompt: str  # template name: synthetic/prompts/<prompt>_v<prompt_version>.txt
    prompt_version: str = "1"
    prompt_file: str | None = None  # a template file of your own instead (local or s3://)
    chunking: ChunkingConfig = ChunkingConfig()
    sampling: SamplingSettings = SamplingSettings()
    postprocess: PostProcessConfig = PostProcessConfig()

    def template(self) -> PromptTemplate:
        return load_prompt(self.prompt, self.prompt_version, self.prompt_file)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, mappings merged key by key (so a YAML can change one nested setting)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
