"""Backends behind one interface: an OpenAI-compatible server, vLLM offline, the embedded model."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from corpusforge.synthetic.backends.base import Backend
from corpusforge.synthetic.backends.embedded import EmbeddedConfig
from corpusforge.synthetic.backends.openai_server import OpenAIServerConfig
from corpusforge.synthetic.backends.vllm_offline import VllmOfflineConfig

BackendConfig = Annotated[EmbeddedConfig | OpenAIServerConfig | VllmOfflineConfig, Field(discriminator="type")]


def make_backend(config: EmbeddedConfig | OpenAIServerConfig | VllmOfflineConfig) -> Backend:
    """The backend a config names; heavy state (models, engines) loads once per process."""
    if config.type == "embedded":
        from corpusforge.synthetic.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(config)
    if config.type == "openai":
        from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend

        return OpenAIServerBackend(config)
    from corpusforge.synthetic.backends.vllm_offline import VllmOfflineBackend

    return VllmOfflineBackend(config)
