"""Faults a real server throws, against a loopback server that injects them: each one is retried or
ends under its own reason, and nothing crashes (the openai SDK transport behaves the same)."""

from __future__ import annotations

import asyncio

import pytest

from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
from corpusforge.synthetic.backends.openai_server import (
    OpenAIServerBackend,
    OpenAIServerConfig,
)


def backend_for(server, transport: str = "aiohttp", **kw) -> OpenAIServerBackend:
    settings = {
        "base_url": server.url,
        "model": "m",
        "transport": transport,
        "max_retries": 2,
        "backoff_s": 0.01,
        "timeout_s": 0.5,
        **kw,
    }
    return OpenAIServerBackend(OpenAIServerConfig(**settings))


def run(backend, prompts: list[str]):
    async def go():
        try:
            return await backend.generate(
                [ChatRequest([{"role": "user", "content": p}], SamplingSettings()) for p in prompts]
            )
        finally:
            await backend.aclose()

    return asyncio.run(go())


# (directive in the prompt, expected final error, expected retried reasons, attempts)
CASES = [
    ("FAULT=429:2", None, {"http_429": 2}, 3),
    ("FAULT=429:9", "http_429", {"http_429": 2}, 3),
    ("FAULT=500:1", None, {"http_500": 1}, 2),
    ("FAULT=500:9", "http_500", {"http_500": 2}, 3),
    ("FAULT=hang:1", None, {"timeout": 1}, 2),
    ("FAULT=hang:9", "timeout", {"timeout": 2}, 3),
    ("FAULT=drop:1", None, {"connection_error": 1}, 2),
    ("FAULT=drop:9", "connection_error", {"connection_error": 2}, 3),
    ("FAULT=malformed:1", None, {"malformed_response": 1}, 2),
    ("FAULT=malformed:9", "malformed_response", {"malformed_response": 2}, 3),
    ("FAULT=empty:1", None, {"empty_choices": 1}, 2),
    ("FAULT=empty:9", "empty_choices", {"empty_choices": 2}, 3),
    ("REPLY=length", None, {}, 1),
    ("plain", None, {}, 1),
]


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
def test_every_fault_is_retried_or_named_in_one_batch(chat_server, transport):
    srv = chat_server()
    replies = run(backend_for(srv, transport), [f"case {i}: {d}" for i, (d, *_) in enumerate(CASES)])
    for (directive, error, retried, attempts), reply in zip(CASES, replies):
        assert (reply.error, reply.retried, reply.attempts) == (error, retried, attempts), directive
        assert bool(reply.text) == (error is None), directive
    assert replies[-2].finish_reason == "length" and replies[-1].finish_reason == "stop"
    assert srv.received == sum(a for *_, a in CASES)


def test_retry_after_is_honoured(chat_server):
    srv = chat_server(retry_after="0.4")
    [reply] = run(backend_for(srv, timeout_s=5), ["FAULT=429:1 please"])
    assert reply.ok and reply.retried == {"http_429": 1} and reply.latency_s >= 0.4


def test_an_unreachable_server_is_a_connection_error_not_a_crash():
    backend = OpenAIServerBackend(
        OpenAIServerConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff_s=0.01, timeout_s=1)
    )
    [reply] = run(backend, ["hello"])
    assert reply.error == "connection_error" and reply.attempts == 2


def test_concurrency_is_bounded(chat_server):
    srv = chat_server(delay=0.05)
    backend = backend_for(srv, concurrency=3, timeout_s=5)
    peak, live = 0, 0
    orig = backend._post_aiohttp

    async def counting(body):
        nonlocal peak, live
        live += 1
        peak = max(peak, live)
        try:
            return await orig(body)
        finally:
            live -= 1

    backend._post_aiohttp = counting
    replies = run(backend, [f"q{i}" for i in range(12)])
    assert all(r.ok for r in replies) and peak == 3


def test_a_large_batch_holds_tasks_for_its_concurrency_not_per_request(chat_server):
    """Tasks start as room frees up: a batch far larger than the concurrency never holds a task per request."""
    srv = chat_server(delay=0.01)
    backend = backend_for(srv, concurrency=4)
    most = 0

    def on_reply(i, reply):
        nonlocal most
        most = max(most, len(asyncio.all_tasks()))

    async def go():
        try:
            return await backend.generate(
                [ChatRequest([{"role": "user", "content": f"q{i}"}]) for i in range(200)], on_reply
            )
        finally:
            await backend.aclose()

    replies = asyncio.run(go())
    assert [r.ok for r in replies] == [True] * 200 and srv.received == 200
    # twice the concurrency in requests, the feeding coroutine and aiohttp's own few (one task per request: 200)
    assert 1 < most <= 2 * 4 + 10


def test_a_failing_reply_callback_stops_the_batch(chat_server):
    """A reply that cannot be stored (a full disk under the cache) ends the batch with that error, not silently."""
    srv = chat_server()
    backend = backend_for(srv, concurrency=2)

    def on_reply(i, reply):
        if i == 3:
            raise OSError("no space left on device")

    async def go():
        try:
            await backend.generate([ChatRequest([{"role": "user", "content": f"q{i}"}]) for i in range(100)], on_reply)
        finally:
            await backend.aclose()

    with pytest.raises(OSError, match="no space"):
        asyncio.run(go())
    assert srv.received < 100
