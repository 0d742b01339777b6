"""The backend contract: an async batch of chat requests in, one reply per request out.

A reply never raises: a request that could not be answered carries the failure reason
(`error`), so a stage counts it under that name and the run goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Failure reasons a backend may put in ChatReply.error; every one is counted under its own name.
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
MALFORMED_RESPONSE = "malformed_response"
EMPTY_CHOICES = "empty_choices"
CONTEXT_TOO_LONG = "context_too_long"
GENERATION_ERROR = "generation_error"


def http_error(status: int) -> str:
    return f"http_{status}"


class SamplingSettings(BaseModel):
    """How to sample one reply; part of every cache key and every output's provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0.0)  # 0: greedy
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)  # 0: off
    # Tokens below min_p x the top token's probability are cut (vLLM/SGLang/transformers); 0: off.
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1)
    seed: int | None = 0  # sampled replies repeat for a given seed (per batch on the embedded model)
    stop: tuple[str, ...] = ()
    # Top-N log-probabilities per generated token (OpenAI `top_logprobs`), for judges that read scores from them;
    # 0: none asked for.
    logprobs: int = Field(0, ge=0, le=20)

    def as_json(self) -> str:
        """Canonical JSON: stored in each output's provenance and hashed into cache keys."""
        fields = self.model_dump(mode="json")
        for off in ("logprobs", "min_p"):
            if not fields[off]:
                del fields[off]  # off: left out, so keys made before the field existed still match
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))


@dataclass
class ChatRequest:
    """One chat completion to make."""

    messages: list[dict[str, str]]
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    # A text completion of exactly this text, no chat template applied (Magpie feeds the template's opening
    # itself); only backends with `raw_completions` take it.
    raw_prompt: str | None = None

    def key(self, model: str, prompt_key: str = "") -> str:
        """Cache key: prompt version, model, sampling settings and the exact input."""
        parts: list = [prompt_key, model, self.settings.as_json(), self.messages]
        if self.raw_prompt is not None:
            parts.append(self.raw_prompt)
        blob = json.dumps(parts, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class ChatReply:
    """The answer to one request, or the reason there is none."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0  # from first send to final answer, retries included
    attempts: int = 0
    error: str | None = None
    retried: dict[str, int] = field(default_factory=dict)  # transient failures that a retry got past
    # Per generated token: {"token", "logprob", "top": {token: logprob}} (OpenAI `logprobs.content`). A reward
    # model served as NeMo's is (Nemotron-4-340B-Reward) returns its attribute scores here, one entry each.
    logprobs: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChatReply:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


OnReply = Callable[[int, ChatReply], None]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (it halves the client's CPU per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Backend(ABC):
    """Generates replies for batches of chat requests."""

    model: str = ""  # the model name recorded in provenance and cache keys
    context_tokens: int | None = None  # prompt + max_tokens must fit; None: unknown (the server decides)
    raw_completions: bool = False  # takes ChatRequest.raw_prompt (text completion without the chat template)

    def pre_query_template(self) -> str:
        """The chat template's text up to where a user message's content starts (Magpie's pre-query template)."""
        raise ValueError(f"backend {type(self).__name__} cannot tell its chat template; give pre_query_template")

    @abstractmethod
    async def generate(self, requests: Sequence[ChatRequest], on_reply: OnReply | None = None) -> list[ChatReply]:
        """One reply per request, in request order; `on_reply(i, reply)` fires as each one arrives."""

    async def aclose(self) -> None:
        """Release connections or sessions opened on the running event loop."""
