"""Any OpenAI-compatible chat-completions server (vLLM, SGLang, NIM, llama.cpp, TGI, OpenAI).

Bounded concurrency, per-attempt timeouts, retries with exponential backoff that honour
Retry-After, and every failure named. Two transports share that loop: `aiohttp` (default) posts
the JSON itself, `sdk` goes through the `openai` package's AsyncOpenAI. The SDK spends several
milliseconds of CPU per request building and validating its models, which caps one core below
the rate a few hundred requests in flight need (benchmarks/llm_orchestration.py measures both).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from corpusforge.synthetic.backends.base import (
    CONNECTION_ERROR,
    CONTEXT_TOO_LONG,
    EMPTY_CHOICES,
    MALFORMED_RESPONSE,
    TIMEOUT,
    Backend,
    ChatReply,
    ChatRequest,
    OnReply,
    http_error,
)

# 408/409/429 and 5xx are transient on vLLM, NIM and OpenAI; other 4xx mean the request itself is wrong.
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRY_REASONS = frozenset({TIMEOUT, CONNECTION_ERROR, MALFORMED_RESPONSE, EMPTY_CHOICES})
# How vLLM, SGLang, TGI and OpenAI word a 400 for a prompt longer than the model's context.
CONTEXT_MARKERS = (
    "maximum context length",
    "context length",
    "context_length_exceeded",
    "too many tokens",
    "input is too long",
    "prompt is too long",
)


class OpenAIServerConfig(BaseModel):
    """Where the server is and how hard to push it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["openai"] = "openai"
    base_url: str = "http://localhost:8000/v1"  # `vllm serve` default address
    model: str
    api_key_env: str = "OPENAI_API_KEY"  # read from the environment, never stored in configs
    transport: Literal["aiohttp", "sdk"] = "aiohttp"
    concurrency: int = Field(64, ge=1)  # requests in flight per worker process
    # Curator's Nemotron-CC pipelines: max_retries 3, base_delay 1.0 s (RECIPES.md §3.4)
    max_retries: int = Field(3, ge=0)
    backoff_s: float = Field(1.0, ge=0.0)
    max_backoff_s: float = Field(60.0, ge=0.0)
    timeout_s: float = Field(120.0, gt=0.0)  # per attempt
    context_tokens: int | None = Field(
        None, ge=1
    )  # the served model's context, when known: longer prompts are not sent
    extra_body: dict[str, Any] = {}  # server-specific fields (vLLM guided decoding, chat_template_kwargs, ...)
    # The server also serves raw text completions at /completions (vLLM, SGLang, llama.cpp do; chat-only APIs
    # do not): requests with a raw prompt (Magpie) go there.
    raw_completions: bool = False
    pre_query_template: str | None = None  # the served model's chat template up to a user message's content


class _Failure(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class OpenAIServerBackend(Backend):
    """Chat completions over HTTP with bounded concurrency, retries and named failures."""

    def __init__(self, config: OpenAIServerConfig):
        self.config = config
        self.model = config.model
        self.context_tokens = config.context_tokens
        self.raw_completions = config.raw_completions
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._raw_url = config.base_url.rstrip("/") + "/completions"
        key = os.environ.get(config.api_key_env, "")
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self._api_key = key
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.requests_sent = 0  # HTTP attempts made, retries included

    async def generate(self, requests: Sequence[ChatRequest], on_reply: OnReply | None = None) -> list[ChatReply]:
        self._ensure_client()
        slots = asyncio.Semaphore(self.config.concurrency)
        # Tasks are started as room frees up, not all at once: a batch of millions of requests would otherwise
        # hold a task each, and stepping them all once delays the first sends. Twice the concurrency leaves
        # room for requests waiting out a retry backoff outside their slot.
        live = asyncio.Semaphore(2 * self.config.concurrency)
        replies: list[ChatReply] = [ChatReply()] * len(requests)

        async def one(i: int, request: ChatRequest) -> None:
            try:
                replies[i] = await self._complete(request, slots)
            finally:
                live.release()
            if on_reply is not None:
                on_reply(i, replies[i])

        tasks: set[asyncio.Future] = set()
        failed: list[BaseException] = []  # an `on_reply` that raised (a cache that cannot be written) stops the batch

        def done(task: asyncio.Future) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failed.append(task.exception())  # type: ignore[arg-type]

        for i, request in enumerate(requests):
            await live.acquire()
            if failed:
                break
            task: asyncio.Future = asyncio.ensure_future(one(i, request))
            tasks.add(task)
            task.add_done_callback(done)
        if failed:
            for task in list(tasks):
                task.cancel()
        await asyncio.gather(*list(tasks), return_exceptions=True)
        if failed:
            raise failed[0]
        return replies

    def pre_query_template(self) -> str:
        if self.config.pre_query_template is None:
            return super().pre_query_template()
        return self.config.pre_query_template

    def body(self, request: ChatRequest) -> dict[str, Any]:
        s = request.settings
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
        }
        if request.raw_prompt is not None:
            body["prompt"] = request.raw_prompt
        else:
            body["messages"] = request.messages
        if s.top_k:
            body["top_k"] = s.top_k  # vLLM/SGLang extension; left out when off so OpenAI itself accepts the body
        if s.min_p:
            body["min_p"] = s.min_p  # vLLM/SGLang extension, as top_k
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if s.logprobs:  # chat: a flag and a count; text completions: the count itself
            raw = request.raw_prompt is not None
            body.update({"logprobs": s.logprobs} if raw else {"logprobs": True, "top_logprobs": s.logprobs})
        return {**body, **self.config.extra_body}

    async def _complete(self, request: ChatRequest, slots: asyncio.Semaphore) -> ChatReply:
        c = self.config
        body = self.body(request)
        raw = request.raw_prompt is not None
        reply = ChatReply()
        t0 = time.perf_counter()
        for attempt in range(c.max_retries + 1):
            reply.attempts += 1
            try:
                async with slots:
                    self.requests_sent += 1
                    post = self._post_aiohttp if c.transport == "aiohttp" else self._post_sdk
                    data = await (post(body, True) if raw else post(body))
                _fill(reply, data)
                reply.error = None
                break
            except _Failure as f:
                reply.error = f.reason
                retryable = f.reason in RETRY_REASONS or f.reason in {http_error(s) for s in RETRY_STATUS}
                if not retryable or attempt == c.max_retries:
                    break
                reply.retried[f.reason] = reply.retried.get(f.reason, 0) + 1
                await asyncio.sleep(self._backoff(attempt, f.retry_after))
        reply.latency_s = time.perf_counter() - t0
        return reply

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        c = self.config
        if retry_after is not None:
            return min(max(retry_after, 0.0), c.max_backoff_s)
        return min(c.backoff_s * (2**attempt) * (0.5 + random.random()), c.max_backoff_s)

    # ------------------------------------------------------------------ transports

    def _ensure_client(self) -> None:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return
        c = self.config
        if c.transport == "aiohttp":
            import aiohttp

            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=c.concurrency, limit_per_host=c.concurrency),
                timeout=aiohttp.ClientTimeout(total=c.timeout_s),
                headers=self._headers,
            )
        else:
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=c.base_url, api_key=self._api_key or "EMPTY", max_retries=0, timeout=c.timeout_s
            )
        self._client_loop = loop

    async def _post_aiohttp(self, body: dict[str, Any], text_completion: bool = False) -> dict[str, Any]:
        import aiohttp

        url = self._raw_url if text_completion else self._url
        try:
            async with self._client.post(url, data=orjson.dumps(body)) as r:
                raw = await r.read()
                status, headers = r.status, r.headers
        except TimeoutError:
            raise _Failure(TIMEOUT) from None
        except (aiohttp.ClientError, OSError):
            raise _Failure(CONNECTION_ERROR) from None
        if status != 200:
            raise _status_failure(status, raw.decode("utf-8", "replace"), headers.get("Retry-After"))
        return _loads(raw)

    async def _post_sdk(self, body: dict[str, Any], text_completion: bool = False) -> dict[str, Any]:
        import openai

        known = {"model", "messages", "prompt", "temperature", "top_p", "max_tokens", "seed", "stop", "logprobs"}
        known |= {"top_logprobs"}
        extra = {k: v for k, v in body.items() if k not in known}
        api = self._client.completions if text_completion else self._client.chat.completions
        try:
            raw = await api.with_raw_response.create(
                **{k: v for k, v in body.items() if k in known}, extra_body=extra or None
            )
        except openai.APITimeoutError:
            raise _Failure(TIMEOUT) from None
        except openai.APIStatusError as e:
            raise _status_failure(e.status_code, str(e.message), e.response.headers.get("Retry-After")) from None
        except openai.APIConnectionError:
            raise _Failure(CONNECTION_ERROR) from None
        return _loads(raw.http_response.content)

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None


def _status_failure(status: int, text: str, retry_after: str | None) -> _Failure:
    if status == 400 and any(m in text.lower() for m in CONTEXT_MARKERS):
        return _Failure(CONTEXT_TOO_LONG)
    return _Failure(http_error(status), _parse_retry_after(retry_after))


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Failure(MALFORMED_RESPONSE) from None
    if not isinstance(data, dict):
        raise _Failure(MALFORMED_RESPONSE)
    return data


def _fill(reply: ChatReply, data: dict[str, Any]) -> None:
    choices = data.get("choices")
    if not choices:
        raise _Failure(EMPTY_CHOICES)
    try:
        choice = choices[0]
        # chat completions carry a message; text completions (raw prompts) the text itself
        text = (choice["text"] if "text" in choice else choice["message"].get("content")) or ""
        usage = data.get("usage") or {}
        reply.text, reply.finish_reason = text, choice.get("finish_reason")
        reply.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        reply.completion_tokens = int(usage.get("completion_tokens") or 0)
        reply.logprobs = _logprobs(choice)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise _Failure(MALFORMED_RESPONSE) from None


def _logprobs(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A choice's logprobs as [{token, logprob, top}]: chat's `content` list, or text completions' parallel lists."""
    lp = choice.get("logprobs") or {}
    content = lp.get("content")
    if content is None and "text" in choice:
        tokens = lp.get("tokens") or []
        tops = lp.get("top_logprobs") or [None] * len(tokens)
        content = [
            {
                "token": t,
                "logprob": v or 0.0,
                "top_logprobs": [{"token": k, "logprob": x} for k, x in (top or {}).items()],
            }
            for t, v, top in zip(tokens, lp.get("token_logprobs") or (), tops)
        ]
    if not content:
        return None
    return [
        {
            "token": str(e["token"]),
            "logprob": float(e["logprob"]),
            "top": {str(t["token"]): float(t["logprob"]) for t in e.get("top_logprobs") or ()},
        }
        for e in content
    ]
