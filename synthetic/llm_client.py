"""A client for the OpenAI-compatible chat-completions API that vLLM, NIM and SGLang serve.

Retries with exponential backoff on timeouts, connection errors, 429 and 5xx (honouring
Retry-After), a bounded number of requests in flight, and JSON extraction from replies.
"""
from __future__ import annotations

import json
import os
import random
import re
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import httpx

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LLMError(RuntimeError):
    """A request that failed after every retry, or a reply that could not be parsed."""


@dataclass
class LLMConfig:
    """Where the server is and how to talk to it."""

    base_url: str = "http://localhost:8000/v1"  # vLLM's `vllm serve` default address
    model: str = "default"
    api_key_env: str = "OPENAI_API_KEY"  # read from the environment, never stored in configs
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0  # first retry waits about this long, doubling each time
    concurrency: int = 8  # requests in flight
    temperature: float = 0.0
    max_tokens: int = 512
    extra_body: dict[str, Any] = field(default_factory=dict)  # server-specific (e.g. vLLM guided decoding)


@dataclass
class ChatResult:
    """One completion: its text, why it stopped, and token usage."""

    text: str
    finish_reason: str | None
    usage: dict[str, int]


class LLMClient:
    """Synchronous chat-completions client; `chat_many` runs requests concurrently."""

    def __init__(self, config: LLMConfig | None = None, **settings: Any):
        self.config = config or LLMConfig(**settings)
        key = os.environ.get(self.config.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.config.base_url.rstrip("/"), headers=headers,
                                  timeout=self.config.timeout_s,
                                  limits=httpx.Limits(max_connections=self.config.concurrency))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def chat(self, messages: Sequence[dict[str, str]], **overrides: Any) -> ChatResult:
        """One chat completion, retried on transient failures."""
        c = self.config
        body = {"model": c.model, "messages": list(messages), "temperature": c.temperature,
                "max_tokens": c.max_tokens, **c.extra_body, **overrides}
        last: Exception | None = None
        for attempt in range(c.max_retries + 1):
            try:
                r = self._http.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = e
                wait = None
            else:
                if r.status_code == 200:
                    return _parse_completion(r.json())
                if r.status_code not in RETRY_STATUS:
                    raise LLMError(f"HTTP {r.status_code} from {c.base_url}: {r.text[:300]}")
                last = LLMError(f"HTTP {r.status_code}: {r.text[:200]}")
                wait = _retry_after(r)
            if attempt < c.max_retries:
                time.sleep(wait if wait is not None else c.backoff_s * (2 ** attempt) * (0.5 + random.random()))
        raise LLMError(f"{c.base_url}: gave up after {c.max_retries + 1} attempts: {last}")

    def chat_many(self, requests: Iterable[Sequence[dict[str, str]]]) -> Iterator[tuple[int, ChatResult | Exception]]:
        """(index, result or exception) per request, in completion order, with at most
        `concurrency` requests in flight (the input is consumed lazily)."""
        with ThreadPoolExecutor(self.config.concurrency) as pool:
            pending: dict = {}
            it = iter(enumerate(requests))
            for i, msgs in it:
                pending[pool.submit(self.chat, msgs)] = i
                if len(pending) >= self.config.concurrency * 2:
                    yield from _drain(pending)
            while pending:
                yield from _drain(pending)


def _drain(pending: dict) -> Iterator[tuple[int, ChatResult | Exception]]:
    done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
    for fut in done:
        i = pending.pop(fut)
        err = fut.exception()
        yield i, (err if err is not None else fut.result())


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return float(r.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _parse_completion(data: dict[str, Any]) -> ChatResult:
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError) as e:
        raise LLMError(f"not a chat completion: {str(data)[:300]}") from e
    return ChatResult(text, choice.get("finish_reason"), dict(data.get("usage") or {}))


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a ```json fence, or the first {...} span."""
    candidates = [text.strip()] + [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise LLMError(f"no JSON in reply: {text[:200]!r}")
