"""Loopback servers for the LLM layer's tests.

- `chat_server`: an OpenAI-compatible server on 127.0.0.1 that answers in each Nemotron-CC task's
  reply shape (from the prompt it receives) and injects faults on request: a `FAULT=<kind>:<n>`
  directive in the user message makes the first n attempts of that request fail that way
  (429 with Retry-After, 500, hang, dropped connection, malformed JSON, empty choices), and
  `REPLY=<kind>` forces a reply (refusal, empty, noprefix, length). It counts every request it receives.
  `respond` (prompt -> (reply text, delay in seconds)) replaces the Nemotron-CC reply shapes, for other tasks.
- `embedded_backend`: the bundled model, loaded once per test session.
- `llm_serve`: one `corpusforge llm serve` process per test session (the real model over real HTTP).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def articles(n: int, min_chars: int = 400, max_chars: int = 1500) -> list[str]:
    """Real article bodies (scrapinghub extraction gold), short ones first."""
    truth = json.loads((DATA / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    bodies = [truth[k]["articleBody"].strip() for k in sorted(truth)]
    return [b for b in bodies if min_chars <= len(b) <= max_chars][:n]


_DIRECTIVE = re.compile(r"(FAULT|REPLY)=([a-z0-9_]+)(?::(\d+))?")


def task_reply(prompt: str) -> str:
    """A well-formed reply in the shape the prompt asks for, built from the text after `Text: `."""
    text = prompt.rsplit("Text: ", 1)[-1].strip()
    first = text.split("\n")[0]
    words = first.split()
    if "Here is a paraphrased version:" in prompt:
        return "Here is a paraphrased version:\n" + text
    if "Here are the questions and answers" in prompt:
        return (
            "Here are the questions and answers based on the provided text:\n"
            f"- Question: What does the text begin with? Answer: {' '.join(words[:6])}.\n"
            f"- Question: Is the text about {words[-1] if words else 'it'}? Answer: Yes.\n"
            "- Question: How many lines does it have? Answer: " + str(text.count("\n") + 1) + "."
        )
    if "Paraphrased Text:" in prompt:
        return "Paraphrased Text: " + text
    if "list, briefly" in prompt:
        return "Facts:\n" + "\n".join(f"- {line}" for line in text.split("\n"))
    if "textbook or an encyclopedia" in prompt:
        return "Passage 1:\n" + text
    return "echo: " + text


class ChatServer:
    """The fault-injecting OpenAI-compatible server (asyncio, one thread)."""

    def __init__(self, delay: float = 0.0, retry_after: str = "0.05", hang_s: float = 3.0, respond=None):
        self.delay, self.retry_after, self.hang_s = delay, retry_after, hang_s
        self.respond = respond
        self.prompts: list[str] = []  # the user message of every request received
        self.received = 0  # every HTTP request, retries included
        self.answered = 0  # 200 replies with content
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in handlers:
                t.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                body = json.loads(await reader.readexactly(length)) if length else {}
                if not await self._respond(body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, AttributeError):
            pass
        finally:
            writer.close()

    async def _respond(self, body: dict, writer: asyncio.StreamWriter) -> bool:
        """Write one response; False when the connection must close."""
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.received += 1
            self.prompts.append(prompt)
        key = hashlib.sha1(prompt.encode()).hexdigest()
        with self.lock:
            attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
        faults = {m.group(2): int(m.group(3) or 99) for m in _DIRECTIVE.finditer(prompt) if m.group(1) == "FAULT"}
        replies = [m.group(2) for m in _DIRECTIVE.finditer(prompt) if m.group(1) == "REPLY"]
        for kind, times in faults.items():
            if attempt > times:
                continue
            if kind == "hang":
                await asyncio.sleep(self.hang_s)
                return False
            if kind == "drop":
                return False  # close without a byte of response
            if kind == "429":
                self._send(writer, 429, b'{"error": "slow down"}', {"Retry-After": self.retry_after})
                return True
            if kind == "500":
                self._send(writer, 500, b'{"error": "boom"}')
                return True
            if kind == "malformed":
                self._send(writer, 200, b'{"choices": [{"message": ')
                return True
            if kind == "empty":
                self._send(writer, 200, b'{"id": "x", "object": "chat.completion", "choices": []}')
                return True
        if self.respond is not None:
            text, delay = self.respond(prompt)
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(self.delay)
            text = task_reply(prompt)
        finish = "stop"
        if "refusal" in replies:
            text = "I'm sorry, but I can't help with that request."
        elif "empty" in replies:
            text = ""
        elif "noprefix" in replies:
            text = "Sure! " + text
        if "length" in replies:
            finish = "length"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        }
        data = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": usage,
        }
        with self.lock:
            self.answered += 1
        self._send(writer, 200, json.dumps(data).encode())
        return True

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, payload: bytes, headers: dict | None = None) -> None:
        reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}[status]
        lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)


@pytest.fixture
def chat_server():
    servers: list[ChatServer] = []

    def make(**kw) -> ChatServer:
        servers.append(ChatServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="session")
def embedded_backend():
    from corpusforge.synthetic.backends.embedded import EmbeddedBackend, EmbeddedConfig

    return EmbeddedBackend(EmbeddedConfig(batch_size=4))


@pytest.fixture(scope="session")
def real_texts() -> list[str]:
    """Twelve real article bodies of 400-1500 characters."""
    return articles(12)
