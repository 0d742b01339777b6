"""A scripted OpenAI-compatible loopback server for the SFT/RL generator tests.

It is the LLM layer's test server (tests/synthetic/conftest.py: real HTTP on 127.0.0.1, every request counted)
with its reply step replaced by a script: `script(body) -> str | dict` gives the reply text (or a whole choice,
e.g. with `logprobs`, or an HTTP error status) for each request body, so a test knows what every request gets. With
`hang_after=n` it answers n requests and then holds every further one open without a byte (a server that dies
mid-run), which is how the resume test stops a run at a known point.
"""

from __future__ import annotations

import asyncio
import json
import types

import pytest


def _scripted_respond(server, script):
    async def respond(self, body: dict, writer: asyncio.StreamWriter) -> bool:
        with self.lock:
            self.received += 1
            if self.hang_after is not None and self.answered >= self.hang_after:
                hang = True
            else:
                hang = False
                self.answered += 1
        if hang:
            await asyncio.sleep(3600)
            return False
        out = script(body)
        if isinstance(out, int):  # an HTTP error status
            self._send(writer, out, b'{"error": "scripted failure"}')
            return True
        choice = out if isinstance(out, dict) else {"message": {"role": "assistant", "content": out}}
        if "prompt" in body and "message" in choice:  # a text completion answers with text, not a message
            choice = {"text": choice.pop("message")["content"], **choice}
        text = choice.get("text") or choice.get("message", {}).get("content", "")
        data = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", **choice}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split())},
        }
        self._send(writer, 200, json.dumps(data).encode())
        return True

    return types.MethodType(respond, server)


@pytest.fixture
def scripted_server(chat_server):
    """`scripted_server(script, hang_after=None)` -> a running server; `.url`, `.received`, `.answered`."""

    def make(script, hang_after: int | None = None):
        srv = chat_server()
        srv.hang_after = hang_after  # may be changed while it runs (None: answer everything)
        srv._respond = _scripted_respond(srv, script)
        return srv

    return make
