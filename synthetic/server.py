"""An OpenAI-compatible server in front of any backend (`corpusforge llm serve` runs the embedded model).

POST /v1/chat/completions, GET /v1/models and GET /health, enough for our own client, the
`openai` SDK and tools that speak to vLLM. Requests that arrive together are decoded together:
a batcher collects them for a few milliseconds (or until a batch is full) and hands the batch
to the backend, so concurrent clients share the model's batch dimension.

(No `from __future__ import annotations` here: FastAPI reads the handlers' annotations, and
`Request` is imported inside `create_app`, where postponed string annotations could not find it.)
"""

import asyncio
import time
import uuid
from typing import Any

from corpusforge.synthetic.backends.base import (
    CONTEXT_TOO_LONG,
    Backend,
    ChatReply,
    ChatRequest,
    SamplingSettings,
)


class Batcher:
    """Gathers concurrent requests into batches for one backend."""

    def __init__(self, backend: Backend, max_batch: int = 8, wait_s: float = 0.01):
        self.backend, self.max_batch, self.wait_s = backend, max_batch, wait_s
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, request: ChatRequest) -> ChatReply:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None  # made by submit() before this task starts
        while True:
            batch = [await queue.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), timeout))
                except TimeoutError:
                    break
            try:
                replies = await self.backend.generate([r for r, _ in batch])
            except Exception as e:  # the requests fail, the server stays up
                replies = [ChatReply(error=f"generation_error: {e}") for _ in batch]
            for (_, future), reply in zip(batch, replies):
                if not future.done():
                    future.set_result(reply)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A chat-completions body to a ChatRequest (OpenAI defaults where a field is absent)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("`messages` must be a non-empty list")
    if int(body.get("n") or 1) != 1:
        raise ValueError("only n=1 is supported")
    stop = body.get("stop") or ()
    # OpenAI chat: `logprobs: true` asks for them, `top_logprobs: N` for N alternatives per token (at most 20).
    top_logprobs = min(max(int(body.get("top_logprobs") or 0), 1), 20) if body.get("logprobs") else 0
    settings = SamplingSettings(
        temperature=float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
        top_p=float(body.get("top_p") or 1.0),
        top_k=max(int(body.get("top_k") or 0), 0),
        min_p=min(max(float(body.get("min_p") or 0.0), 0.0), 1.0),
        max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
        seed=body.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        logprobs=top_logprobs,
    )
    return ChatRequest([{"role": str(m.get("role", "user")), "content": _content(m)} for m in messages], settings)


def _logprobs_body(reply: ChatReply) -> dict[str, Any] | None:
    """A reply's per-token logprobs in the OpenAI chat shape (`choices[0].logprobs.content`), or None."""
    if not reply.logprobs:
        return None
    return {
        "content": [
            {
                "token": e["token"],
                "logprob": e["logprob"],
                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in (e.get("top") or {}).items()],
            }
            for e in reply.logprobs
        ]
    }


def create_app(backend: Backend, served_name: str | None = None, max_batch: int = 8, wait_s: float = 0.01):
    """The FastAPI application serving `backend`."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    name = served_name or backend.model
    batcher = Batcher(backend, max_batch, wait_s)
    app = FastAPI(title="corpusforge llm serve")

    def error(status: int, message: str, code: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": code}}, status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model": name}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "corpusforge",
                    "max_model_len": backend.context_tokens,
                }
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(raw: Request) -> Any:
        try:
            body = await raw.json()
            request = parse_request(body)
        except Exception as e:  # any unreadable body is the client's error
            return error(400, f"bad request: {e}", "bad_request")
        if body.get("model") not in (None, name):
            return error(
                404, f"the model `{body.get('model')}` does not exist; this server serves `{name}`", "model_not_found"
            )
        reply = await batcher.submit(request)
        if reply.error == CONTEXT_TOO_LONG:
            return error(
                400,
                f"This model's maximum context length is {backend.context_tokens} tokens; the prompt "
                f"({reply.prompt_tokens} tokens) plus max_tokens ({request.settings.max_tokens}) exceeds "
                "it.",
                "context_length_exceeded",
            )
        if reply.error is not None:
            return JSONResponse({"error": {"message": reply.error, "type": "server_error"}}, 500)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                    "logprobs": _logprobs_body(reply),
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    return app


def serve(
    backend: Backend,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_name: str | None = None,
    max_batch: int = 8,
    wait_s: float = 0.01,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    uvicorn.run(create_app(backend, served_name, max_batch, wait_s), host=host, port=port, log_level="warning")
