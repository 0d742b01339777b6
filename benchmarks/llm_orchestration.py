"""LLM request orchestration against its physical limit, and the embedded model's speed on CPU.

A loopback OpenAI-compatible server answers every request after a fixed latency (200 ms), so no
client can do better than `concurrency / latency` requests per second. The client runs on one
core (the server on another) and is measured in the same run as:
  - ours: `OpenAIServerBackend` (aiohttp transport, the default) and its `sdk` transport (openai's AsyncOpenAI);
  - a plain `asyncio.gather` over the openai SDK's AsyncOpenAI (the SDK's default httpx transport);
  - datatrove 0.10's inference client (`EndpointServer.make_request`: raw sockets, one connection per request).
NeMo Curator's AsyncOpenAIClient is AsyncOpenAI behind a semaphore (the plain-SDK row is its floor); its
package does not import without its Ray stack (cosmos-xenna), so it is not installed here.
Target: ours >= 90% of the limit at concurrency 256. The embedded model's tokens/s are informational.

    .venv/bin/python benchmarks/llm_orchestration.py [--latency 0.2] [--concurrency 256] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPLY = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
}
MESSAGES = [{"role": "user", "content": "Reply with ok."}]


class _LatencyProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, answering each POST `latency` seconds after it arrives.

    A bare protocol on uvloop costs the server a few tens of microseconds per request, so the
    server is never what limits the clients measured against it."""

    latency = 0.2
    chat = b""
    models = b""

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport, self.buf = transport, b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            headers = dict(line.split(b":", 1) for line in self.buf[:end].lower().split(b"\r\n")[1:] if b":" in line)
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buf) < end + 4 + length:
                return
            method = self.buf[:4]
            self.buf = self.buf[end + 4 + length :]
            close = headers.get(b"connection", b"").strip() == b"close"  # datatrove reads each reply to EOF
            if method.startswith(b"GET"):
                self._answer(self.models, close)
            else:
                self.loop.call_later(self.latency, self._answer, self.chat, close)

    def _answer(self, reply: bytes, close: bool) -> None:
        if not self.transport.is_closing():
            self.transport.write(reply)
            if close:
                self.transport.close()


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def serve(port: int, latency: float) -> None:
    """The fixed-latency server (run in its own process)."""
    _LatencyProtocol.latency = latency
    _LatencyProtocol.chat = _response(json.dumps(REPLY).encode())
    _LatencyProtocol.models = _response(json.dumps({"object": "list", "data": [{"id": "bench"}]}).encode())

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_LatencyProtocol, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    run_loop(main())


def run_loop(coro):
    """asyncio.run on uvloop when it is installed (as the LLM stage runs), else the default loop."""
    from corpusforge.synthetic.backends.base import new_event_loop

    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def start_server(latency: float, core: int | None) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pre = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(latency)], preexec_fn=pre)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/models", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("benchmark server did not start")


async def ours(url: str, n: int, conc: int, transport: str) -> None:
    from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
    from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend, OpenAIServerConfig

    backend = OpenAIServerBackend(
        OpenAIServerConfig(base_url=url, model="bench", concurrency=conc, transport=transport, max_retries=0)
    )
    settings = SamplingSettings(max_tokens=4)
    replies = await backend.generate([ChatRequest(MESSAGES, settings) for _ in range(n)])
    await backend.aclose()
    assert all(r.ok for r in replies), {r.error for r in replies}


async def plain_sdk(url: str, n: int, conc: int) -> None:
    import openai

    # The SDK's own defaults but a longer connect timeout: hundreds of connections opened at once on a busy
    # core can take over its 5 s default to be accepted.
    client = openai.AsyncOpenAI(base_url=url, api_key="unused", timeout=openai.Timeout(600.0, connect=60.0))
    slots = asyncio.Semaphore(conc)

    async def one() -> str:
        async with slots:
            r = await client.chat.completions.create(model="bench", messages=MESSAGES, max_tokens=4)
            return r.choices[0].message.content

    out = await asyncio.gather(*(one() for _ in range(n)))
    await client.close()
    assert all(out)


async def datatrove_client(url: str, n: int, conc: int) -> None:
    from datatrove.pipeline.inference.run_inference import InferenceConfig
    from datatrove.pipeline.inference.servers.endpoint_server import EndpointServer

    config = InferenceConfig(
        server_type="endpoint",
        model_name_or_path="bench",
        endpoint_url=url.rsplit("/v1", 1)[0],
        max_concurrent_generations=conc,
    )
    slots = asyncio.Semaphore(conc)
    async with EndpointServer(config, rank=0) as server:

        async def one() -> dict:
            async with slots:
                return await server.make_request({"model": "bench", "messages": MESSAGES, "max_tokens": 4})

        out = await asyncio.gather(*(one() for _ in range(n)))
    assert all(r["choices"] for r in out)


def measure(fn, n: int, repeat: int) -> dict:
    """Best of `repeat` runs (least disturbed by other load): requests/s and client CPU ms per request."""
    best, cpu = float("inf"), 0.0
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        run_loop(fn())
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    # On a shared machine the client may get only part of its core: the share it got says how far the wall
    # figure is the machine's load rather than the client; requests per CPU-second is what one whole core could do.
    return {
        "req_per_s": round(n / best, 1),
        "cpu_ms_per_request": round(1000 * cpu / n, 3),
        "client_core_share": round(cpu / best, 3),
        "req_per_cpu_second": round(n / cpu, 1),
    }


def embedded_speed(max_tokens: int = 48) -> dict:
    """Completion tokens per second of the bundled model on one CPU thread, one sequence and a batch of 8."""
    from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
    from corpusforge.synthetic.backends.embedded import EmbeddedBackend, EmbeddedConfig

    t0 = time.perf_counter()
    backend = EmbeddedBackend(EmbeddedConfig(batch_size=8, threads=1))
    load_s = time.perf_counter() - t0
    topics = ["rivers", "bread", "comets", "bridges", "bees", "glass", "tides", "maps"]
    out = {"load_seconds": round(load_s, 1), "threads": 1, "max_tokens": max_tokens}
    for label, batch in (("single", topics[:1]), ("batch8", topics)):
        requests = [
            ChatRequest(
                [{"role": "user", "content": f"Write a paragraph about {t}."}], SamplingSettings(max_tokens=max_tokens)
            )
            for t in batch
        ]
        asyncio.run(backend.generate(requests[:1]))  # warm-up
        t0 = time.perf_counter()
        replies = asyncio.run(backend.generate(requests))
        wall = time.perf_counter() - t0
        out[f"tokens_per_s_{label}"] = round(sum(r.completion_tokens for r in replies) / wall, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=10, help="requests = concurrency x rounds")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--only", help="measure only the clients whose name contains this text")
    ap.add_argument("--out", default=str(Path(__file__).parent / "reference" / "llm_orchestration.json"))
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.latency)
        return
    cores = sorted(os.sched_getaffinity(0))
    client_core, server_core = cores[0], (cores[1] if len(cores) > 1 else None)
    proc, url = start_server(args.latency, server_core)
    os.sched_setaffinity(0, {client_core})  # the client gets one core
    n, conc = args.concurrency * args.rounds, args.concurrency
    limit = conc / args.latency
    try:
        clients = {
            "ours (aiohttp transport, default)": lambda: ours(url, n, conc, "aiohttp"),
            "ours (openai SDK transport)": lambda: ours(url, n, conc, "sdk"),
            "plain asyncio.gather over openai.AsyncOpenAI": lambda: plain_sdk(url, n, conc),
            "datatrove 0.10 EndpointServer.make_request": lambda: datatrove_client(url, n, conc),
        }
        rows = {}
        for name, fn in clients.items():
            if args.only and args.only not in name:
                continue
            try:
                rows[name] = measure(fn, n, args.repeat)
            except Exception as e:  # a peer that fails or is missing is reported, the others still run
                print(f"{name}: failed: {type(e).__name__}: {e}")
    finally:
        proc.terminate()
        proc.wait()
    for r in rows.values():
        r["fraction_of_limit"] = round(r["req_per_s"] / limit, 3)
    print(f"limit: {conc} in flight / {args.latency * 1000:.0f} ms = {limit:.0f} req/s; {n} requests, client on 1 core")
    print(f"{'client':48s} {'req/s':>8s} {'of limit':>9s} {'CPU ms/req':>11s} {'core got':>9s} {'req/CPU-s':>10s}")
    for name, r in rows.items():
        print(
            f"{name:48s} {r['req_per_s']:8.0f} {r['fraction_of_limit']:9.1%} {r['cpu_ms_per_request']:11.3f} "
            f"{r['client_core_share']:9.0%} {r['req_per_cpu_second']:10.0f}"
        )
    ours_fraction = rows["ours (aiohttp transport, default)"]["fraction_of_limit"]
    print(f"target >= 90% of the limit: {'met' if ours_fraction >= 0.9 else 'NOT met'} ({ours_fraction:.1%})")
    load = os.getloadavg()[0]
    print(f"load average (1 min) after the clients ran: {load:.1f} on {os.cpu_count()} CPUs")
    result = {
        "benchmark": "llm_orchestration",
        "load_average_1min": round(load, 2),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "latency_s": args.latency,
        "concurrency": conc,
        "requests": n,
        "limit_req_per_s": limit,
        "clients": rows,
        "target_met": ours_fraction >= 0.9,
    }
    if args.skip_embedded and Path(args.out).exists():  # keep the last measured model figures
        result["embedded_model"] = json.loads(Path(args.out).read_text()).get("embedded_model")
    if not args.skip_embedded:
        result["embedded_model"] = embedded_speed()
        e = result["embedded_model"]
        print(
            f"embedded SmolLM2-135M on 1 CPU thread: {e['tokens_per_s_single']} tok/s one sequence, "
            f"{e['tokens_per_s_batch8']} tok/s batch of 8 (load {e['load_seconds']} s)"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
