"""LLM page cleanup (`llm_cleanup`) on real math and code pages, against a loopback OpenAI-compatible server:
chunks merged back in document order, "NO USEFUL CONTENT" dropped, over-long chunks never sent, the guard on
lost formulas and code lines, the merge cap, and a killed run that re-sends only unanswered requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.samples.math import SHARED_MATH, shared_math_pages
from corpusforge.stages.web.extract import Extract
from corpusforge.synthetic.chunking import split_paragraphs
from corpusforge.synthetic.tasks.cleanup import LLMCleanup
from corpusforge.synthetic.tasks.cleanup_checks import code_retention, formula_retention, formulas
from corpusforge.synthetic.tokens import token_counter

pytestmark = pytest.mark.skipif(not (SHARED_MATH / "gold.jsonl").exists(), reason="shared math pages absent")

_DOLLAR_TEX = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.DOTALL)


def chunk_of(prompt: str) -> str:
    """The page text a cleanup prompt carries (after its `Text:` line)."""
    return prompt.rsplit("Text:\n", 1)[-1]


def respond(rule, slow: str | None = None):
    """A server reply function: `rule(chunk)` is the reply; a chunk containing `slow` is answered last."""
    return lambda prompt: (rule(chunk_of(prompt)), 0.4 if slow and slow in chunk_of(prompt) else 0.0)


@pytest.fixture(scope="module")
def pages() -> dict[str, Document]:
    """Real pages, extracted as the lanes extract them: math pages by `extract: math`, a Stack Overflow page
    with code by `extract: code`."""
    rows = {r["name"]: r for r in shared_math_pages()}
    out = {}
    for name, mode in [
        ("se_physics_621479", "math"),
        ("mathhelpforum_169103", "math"),
        ("neg_stackoverflow_35302978", "code"),
    ]:
        html = rows[name]["html"].decode("utf-8", "replace")
        doc = Document(make_id("test", name), html, "math", {"url": rows[name]["url"]})
        [out[name]] = list(Extract(extractor=mode).run([doc]))
    return out


def stage(server, **settings) -> LLMCleanup:
    backend = {"type": "openai", "base_url": server.url, "model": "m", "concurrency": 4, "max_retries": 0}
    return LLMCleanup(backend=backend, cache=False, **{"chunk_tokens": 120, **settings})


def chunks(text: str, max_tokens: int = 120) -> list[str]:
    return [c.text for c in split_paragraphs(text, token_counter().count_many, max_tokens)]


def test_chunks_are_merged_back_in_document_order(chat_server, pages):
    page = pages["se_physics_621479"]
    parts = chunks(page.text)
    assert len(parts) >= 4
    # a preamble the prompt forbids, which the stage removes; the first chunk is answered last
    reply = lambda c: "Here is the cleaned text:\n" + c.strip() + "\n(clean)"
    srv = chat_server(respond=respond(reply, slow=parts[0][:40]))
    st = stage(srv)
    [out] = list(st.run([page]))
    assert out.text == "\n\n".join(p.strip() + "\n(clean)" for p in parts)
    assert srv.received == len(parts) and sorted(chunk_of(p) for p in srv.prompts) == sorted(parts)
    assert all("single dollar signs" in p for p in srv.prompts)  # the math variant's rules
    assert st.ledger.balanced and st.ledger.extra["chunks_cleaned"] == len(parts)
    assert st.ledger.extra["replies_fixed"] == {"preamble_removed": len(parts)}
    # provenance as the rephrase stage keeps it; the page keeps its source and url
    assert out.meta["source_id"] == page.id and out.meta["task"] == "cleanup_math" and out.meta["model"] == "m"
    assert out.meta["prompt"].startswith("html_to_text_math@v1#") and out.source == "math"
    assert out.meta["url"] == page.meta["url"]
    assert json.loads(out.meta["sampling"]) == {
        "max_tokens": 16384,
        "seed": 0,
        "stop": [],
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.8,
    }
    assert json.loads(out.meta["cleanup"]) == {"chunks": len(parts), "cleaned": len(parts)}


def test_no_useful_content_drops_the_chunk_and_a_page_with_nothing_else(chat_server, pages, real_texts):
    # chunks without a formula are judged useless by this server; an article has none at all
    srv = chat_server(respond=respond(lambda c: c if "$" in c else '"NO USEFUL CONTENT"'))
    page = pages["mathhelpforum_169103"]
    article = Document("article", "\n\n".join([t for t in real_texts if "$" not in t][:3]), "web", {})
    st = stage(srv)
    [out] = list(st.run([page, article]))
    useless = [c for c in chunks(page.text) if "$" not in c]
    assert useless and out.meta["source_id"] == page.id
    assert out.text == "\n\n".join(c.strip() for c in chunks(page.text) if "$" in c)
    assert st.ledger.dropped == {"no_useful_content": 1}
    assert st.ledger.extra["chunks_dropped"]["no_useful_content"] == len(useless) + len(chunks(article.text))
    assert st.ledger.balanced and st.ledger.docs_in == 2


def test_an_over_long_chunk_is_dropped_and_never_sent(chat_server, pages, real_texts):
    srv = chat_server(respond=respond(lambda c: c))
    long_paragraph = " ".join(real_texts[:8]).replace("\n", " ")
    assert token_counter().count(long_paragraph) >= 640
    page = pages["se_physics_621479"]
    with_long = Document("with-long", page.text + "\n\n" + long_paragraph, "math", {})
    only_long = Document("only-long", long_paragraph, "math", {})
    # Curator's rule: chunks with n_tokens >= 0.8 x max_model_len are not sent (here 0.8 x 800 = 640)
    st = stage(srv, max_model_len=800)
    [out] = list(st.run([with_long, only_long]))
    assert not any(long_paragraph[:60] in p for p in srv.prompts)
    assert srv.received == len(chunks(page.text))
    assert out.text == "\n\n".join(c.strip() for c in chunks(page.text))
    assert st.ledger.dropped == {"chunk_over_model_len": 1}
    assert st.ledger.extra["chunks_dropped"] == {"chunk_over_model_len": 2}
    assert st.ledger.extra["llm_not_sent"] == {"chunk_over_model_len": 2}
    assert json.loads(out.meta["cleanup"])["dropped"] == {"chunk_over_model_len": 1}


@pytest.mark.parametrize("policy", ["keep_original", "drop_chunk", "drop_document"])
def test_a_reply_that_lost_its_formulas_is_not_trusted(chat_server, pages, policy):
    page = pages["se_physics_621479"]
    parts = chunks(page.text)
    # The model drops every formula of chunks with several of them (a small model's garbling) and keeps the rest.
    garbled = [c for c in parts if len(formulas(c)) >= 2]
    assert garbled and len(garbled) < len(parts)
    srv = chat_server(respond=respond(lambda c: _DOLLAR_TEX.sub("", c) if len(formulas(c)) >= 2 else c))
    st = stage(srv, on_lost_content=policy)
    out = list(st.run([page]))
    assert st.ledger.balanced
    if policy == "drop_document":
        assert not out and st.ledger.dropped == {"lost_formulas": 1}
        return
    [doc] = out
    if policy == "keep_original":
        assert doc.text == "\n\n".join(c.strip() for c in parts)  # the original chunks, formulas intact
        assert st.ledger.extra["chunks_kept_original"] == {"lost_formulas": len(garbled)}
    else:
        assert doc.text == "\n\n".join(c.strip() for c in parts if c not in garbled)
        assert st.ledger.extra["chunks_dropped"] == {"lost_formulas": len(garbled)}
    assert st.ledger.extra["guard_items_kept"] < st.ledger.extra["guard_items_sent"]


def test_the_guard_reads_formulas_and_code_as_the_model_may_rewrite_them(pages):
    chunk = "Since $\\displaystyle \\dfrac{a}{b} = c$ and $$x^2 + y^2$$ hold, $\\begingroup$ we get \\(z\\)."
    assert formula_retention(chunk, "Since $\\frac{a}{b}=c$ and $x^2+y^2$ hold, we get $z$.").share == 1.0
    assert formula_retention(chunk, "Since a over b is c, the result follows.").share == 0.0
    assert formula_retention(chunk, "NO USEFUL CONTENT").items == 3  # $\begingroup$ is set-up, not content
    # unbalanced and adversarial input stays linear: a megabyte of lone dollars and brackets
    assert formulas("$" + "a\\[" * 300_000) == []
    page = pages["neg_stackoverflow_35302978"].text
    assert "```" in page
    kept = code_retention(page, re.sub(r"\n {1,4}", "\n", page))  # re-indented lines still count
    assert kept.items >= 40 and kept.share == 1.0
    summary = "The question asks how to read the proximity sensor; the answer registers a SensorEventListener."
    assert code_retention(page, summary).share < 0.1


def test_lost_code_lines_and_a_marker_on_a_formula_chunk_are_caught(chat_server, pages):
    code_page = pages["neg_stackoverflow_35302978"]
    srv = chat_server(respond=respond(lambda c: "A summary of the snippet." if "```" in c else c))
    st = stage(srv, variant="code", chunk_tokens=200)
    [out] = list(st.run([code_page]))
    assert out.text.count("```") == code_page.text.count("```")  # the code came back from the original chunks
    assert set(st.ledger.extra["chunks_kept_original"]) == {"lost_code"}
    assert all("character for character" in p for p in srv.prompts)  # the code variant's prompt
    # "NO USEFUL CONTENT" on a chunk full of formulas is lost content, not an empty page
    srv2 = chat_server(respond=respond(lambda c: "NO USEFUL CONTENT"))
    st2 = stage(srv2, on_lost_content="drop_document")
    assert list(st2.run([pages["se_physics_621479"]])) == []
    assert st2.ledger.dropped == {"lost_formulas": 1}


def test_failed_requests_and_the_merge_cap_are_named(chat_server, pages, real_texts):
    page = pages["se_physics_621479"]
    failing = Document("fails", page.text + "\n\nFAULT=500:99", "math", {})
    srv = chat_server(respond=respond(lambda c: c))
    st = stage(srv)
    [out] = list(st.run([failing]))
    assert out.text.endswith("FAULT=500:99")  # its chunk kept as it was
    assert st.ledger.extra["chunks_kept_original"] == {"request_failed": 1}
    assert st.ledger.extra["llm_failures"] == {"http_500": 1}
    st = stage(srv, on_failed_chunk="drop_document")
    assert list(st.run([failing])) == [] and st.ledger.dropped == {"request_failed": 1}
    # Curator removes merges over max_text_length; `truncate` cuts at a chunk boundary instead
    st = stage(srv, max_merged_chars=500)
    assert list(st.run([page])) == [] and st.ledger.dropped == {"merged_over_max_chars": 1}
    st = stage(srv, max_merged_chars=500, on_over_max_chars="truncate")
    [cut] = list(st.run([page]))
    assert len(cut.text) <= 500 and page.text.startswith(cut.text[:100]) and st.ledger.extra["merged_truncated"] == 1


def test_a_killed_run_resends_only_unanswered_requests(chat_server, pages, tmp_path):
    srv = chat_server(respond=lambda p: (chunk_of(p), 0.15))
    docs = [pages["se_physics_621479"], pages["mathhelpforum_169103"]]
    storage.write_documents(str(tmp_path / "in" / "00000.parquet"), docs)
    total = sum(len(chunks(d.text)) for d in docs)
    config = {
        "name": "cleanup-test",
        "progress": False,
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [
            {
                "type": "llm_cleanup",
                "chunk_tokens": 120,
                "batch_requests": 64,
                "backend": {"type": "openai", "base_url": srv.url, "model": "m", "concurrency": 1},
            }
        ],
        "output": str(tmp_path / "out"),
        "engine": {"type": "local", "workers": 1},
    }
    cfg = tmp_path / "cleanup.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "corpusforge.cli", "run", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while srv.answered < 4 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)
    cached = sum(len(p.read_text().splitlines()) for p in (tmp_path / "out" / "_work").rglob("*.jsonl"))
    first = srv.received
    assert 4 <= cached <= first < total
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ledgers = json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]
    [stats] = [s for s in ledgers if s["name"] == "llm_cleanup"]
    assert stats["extra"]["llm_cache_hits"] == cached
    assert srv.received - first == stats["extra"]["llm_requests"] == total - cached
    assert stats["balanced"] and stats["docs_out"] == 2
    assert sorted(chunk_of(p) for p in set(srv.prompts)) == sorted(c for d in docs for c in chunks(d.text))
