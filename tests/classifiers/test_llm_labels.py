"""LLM edu annotation against a real HTTP server that speaks the chat-completions API:
scores parsed, retries on 503, cache hits, and a killed labelling run that resumes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from corpusforge.classifiers.labels import LLMEduLabeller, parse_edu_score, read_labels
from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend, OpenAIServerConfig
from corpusforge.synthetic.postprocess import parse_json


def expected_score(document: str) -> int:
    return len(document.split()) % 6


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float = 0.0, fail_first: int = 0):
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.delay, self.fail_first = delay, fail_first
        self.documents: list[str] = []
        self.lock = threading.Lock()
        self.calls = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv: ChatServer = self.server
        with srv.lock:
            srv.calls += 1
            fail = srv.calls <= srv.fail_first
        if self.path != "/v1/chat/completions" or fail:
            self.send_response(503 if fail else 404)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"]
        doc = prompt.split("The extract:\n", 1)[1].split("\n\nAfter examining the extract:", 1)[0]
        time.sleep(srv.delay)
        with srv.lock:
            srv.documents.append(doc)
        reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                     "role": "assistant", "content": f"Plain prose.\nEducational score: {expected_score(doc)}"}}],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server_factory():
    servers = []

    def make(**kw) -> ChatServer:
        srv = ChatServer(**kw)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


TEXTS = [" ".join(f"word{j}" for j in range(5 + i)) + f" document {i}." for i in range(30)]


def test_annotations_scored_cached_and_retried(server_factory, tmp_path):
    srv = server_factory(fail_first=2)  # two 503s: the client must retry
    backend = OpenAIServerBackend(OpenAIServerConfig(base_url=srv.url, model="m", backoff_s=0.01, concurrency=4))
    labeller = LLMEduLabeller(backend, TEXTS[:10], str(tmp_path / "cache.jsonl"))
    rows = list(labeller.labels())
    assert sorted((r.text, r.label) for r in rows) == sorted((t, float(expected_score(t))) for t in TEXTS[:10])
    assert len(srv.documents) == 10 and labeller.failed == 0 and srv.calls == 12
    again = LLMEduLabeller(backend, TEXTS[:10], str(tmp_path / "cache.jsonl"))
    assert len(list(again.labels())) == 10 and again.requested == 0 and len(srv.documents) == 10
    # a new prompt version is a new cache key: nothing is reused across wordings
    from corpusforge.synthetic.prompt_template import PromptTemplate, load_prompt

    p = load_prompt("edu_annotation")
    v2 = LLMEduLabeller(backend, TEXTS[:3], str(tmp_path / "cache.jsonl"), prompt=PromptTemplate(p.name, "2", p.text))
    assert len(list(v2.labels())) == 3 and v2.requested == 3


def test_killed_labelling_run_resumes_from_cache(server_factory, tmp_path):
    srv = server_factory(delay=0.1)
    inputs = tmp_path / "docs.jsonl"
    inputs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    cache, out = tmp_path / "cache.jsonl", tmp_path / "labels.jsonl"
    cmd = [sys.executable, "-m", "corpusforge.cli", "classifiers", "annotate", str(inputs), "--out", str(out),
           "--base-url", srv.url, "--model", "m", "--cache", str(cache), "--concurrency", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(srv.documents) < 8 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # let the server finish the requests that were in flight at the kill
    assert not out.exists()
    done_before = len(cache.read_text().splitlines())
    assert 6 <= done_before < len(TEXTS)
    first_run = len(srv.documents)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_labels(str(out))
    assert sorted((r.text, r.label) for r in rows) == sorted((t, float(expected_score(t))) for t in TEXTS)
    # the rerun asked only for what the cache lacked
    assert len(srv.documents) - first_run == len(TEXTS) - done_before
    assert len(set(srv.documents)) == len(TEXTS)


def test_reply_parsing():
    assert parse_edu_score("Good.\nEducational score: 4") == 4.0
    assert parse_edu_score('```json\n{"score": 2}\n```') == 2.0
    assert parse_json('noise {"a": [1, 2]} tail') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        parse_edu_score("no number here")
