"""The LLM stages against a real loopback chat server: routing by tier, provenance, each bad reply
dropped under its own reason, a prompt over the context never sent, accounting in the ledger."""

from __future__ import annotations

import json

from corpusforge.core.document import Document, make_id
from corpusforge.synthetic.stage import LLMGenerate
from corpusforge.synthetic.tasks.rephrase import NemotronRephrase


def _docs(texts: list[str], tiers: list[str | None]) -> list[Document]:
    return [
        Document(
            make_id("web", f"t{i}"),
            t,
            "web",
            {"url": f"https://example.org/{i}", "language": "en"},
            {"quality_tier": tier, "quality_bucket": 15} if tier else {},
        )
        for i, (t, tier) in enumerate(zip(texts, tiers))
    ]


def _backend(server, **kw) -> dict:
    return {
        "type": "openai",
        "base_url": server.url,
        "model": "m",
        "max_retries": 1,
        "backoff_s": 0.01,
        "timeout_s": 5,
        **kw,
    }


def test_rephrase_routes_by_tier_and_records_provenance(chat_server, real_texts, tmp_path):
    srv = chat_server()
    docs = _docs(real_texts[:4], ["low", "high", None, "medium-high"])
    stage = NemotronRephrase(
        backend=_backend(srv),
        cache_dir=str(tmp_path / "cache"),
        price_input_per_million=2.0,
        price_output_per_million=6.0,
    )
    out = list(stage.run(docs))
    led = stage.ledger
    by = {(d.meta["source_id"], d.source): d for d in out}
    assert sorted(s for (sid, s) in by if sid == docs[0].id) == ["synthetic/wikipedia"]
    high = ["synthetic/distill", "synthetic/diverse_qa", "synthetic/extract_knowledge", "synthetic/knowledge_list"]
    assert sorted(s for (sid, s) in by if sid == docs[1].id) == high
    assert sorted(s for (sid, s) in by if sid == docs[3].id) == high
    # one unit per (document, task): 1 + 4 + 1 (no tier) + 4; the ledger balances
    assert (led.docs_in, led.docs_out, dict(led.dropped)) == (10, 9, {"no_quality_tier": 1})
    assert led.balanced

    wiki = by[(docs[0].id, "synthetic/wikipedia")]
    assert wiki.meta["task"] == "wikipedia" and wiki.meta["prompt"].startswith("nemotron_wikipedia@v1#")
    assert wiki.meta["model"] == "m" and json.loads(wiki.meta["sampling"])["temperature"] == 0.5
    assert wiki.meta["url"] == docs[0].meta["url"] and wiki.annotations["quality_tier"] == "low"
    assert not wiki.text.startswith("Here is a paraphrased version")  # the required prefix is sliced off
    assert wiki.text.split("\n")[0] in docs[0].text
    qa = by[(docs[1].id, "synthetic/diverse_qa")]
    assert qa.text.startswith(docs[1].text.strip()) and "\n\nQuestion: " in qa.text
    assert not by[(docs[1].id, "synthetic/extract_knowledge")].text.startswith("Passage 1:")
    klist = by[(docs[1].id, "synthetic/knowledge_list")].text
    assert not klist.startswith("Facts:") and not any(line.startswith("- ") for line in klist.split("\n"))
    assert len({d.id for d in out}) == 9

    extra = led.extra
    assert extra["llm_requests"] == srv.received == extra["segments_kept"] >= 9
    assert extra["llm_prompt_tokens"] > 0 and extra["llm_completion_tokens"] > 0
    cost = (extra["llm_prompt_tokens"] * 2.0 + extra["llm_completion_tokens"] * 6.0) / 1e6
    assert abs(extra["llm_cost_usd"] - cost) < 1e-9
    final = NemotronRephrase.finalize_extra(extra)
    assert final["llm_latency_p50_ms"] <= final["llm_latency_p99_ms"]

    # the same documents again: every reply comes from the cache, nothing is sent
    again = NemotronRephrase(backend=_backend(srv), cache_dir=str(tmp_path / "cache"))
    assert [d.text for d in again.run(docs)] == [d.text for d in out]
    assert again.ledger.extra["llm_cache_hits"] == extra["llm_requests"] and srv.received == extra["llm_requests"]


def _wiki_task(**post) -> dict:
    return {
        "name": "wikipedia",
        "prompt": "nemotron_wikipedia",
        "chunking": {"max_input_tokens": 4000},
        "sampling": {"max_tokens": 64},
        "postprocess": {"required_prefix": "Here is a paraphrased version:", **post},
    }


def test_each_bad_reply_is_dropped_under_its_own_reason(chat_server, real_texts, tmp_path):
    srv = chat_server()
    directives = [
        "REPLY=refusal",
        "REPLY=empty",
        "REPLY=noprefix",
        "REPLY=length",
        "FAULT=500:9",
        "FAULT=429:1",
        "",
        "",
    ]
    texts = [f"{t}\n{d}" if d else t for t, d in zip(real_texts, directives)]
    long_doc = " ".join(real_texts[:6]).replace("\n", " ")  # one line of ~1.8k tokens: over the 1200 context
    docs = _docs(texts + [long_doc], [None] * 9)
    stage = LLMGenerate(
        backend=_backend(srv, context_tokens=1200),
        task=_wiki_task(max_reply_tokens=100_000),
        cache_dir=str(tmp_path / "cache"),
    )
    out = list(stage.run(docs))
    led = stage.ledger
    assert dict(led.dropped) == {
        "refusal": 1,
        "empty_reply": 1,
        "missing_prefix": 1,
        "truncated": 1,
        "request_failed": 1,
        "context_too_long": 1,
    }
    assert len(out) == 3 and led.balanced
    assert led.extra["llm_failures"] == {"http_500": 1} and led.extra["llm_retried"] == {"http_500": 1, "http_429": 1}
    assert led.extra["llm_not_sent"] == {"context_too_long": 1}
    assert srv.received == 8 + 1 + 1  # 8 documents, one retry each for the 500 and the 429; the long one never
    assert not any(long_doc[:200] in d.text for d in out)


def test_fixes_trim_a_cut_reply_and_caps_drop_long_ones(chat_server, real_texts, tmp_path):
    srv = chat_server()
    docs = _docs([real_texts[0] + "\nREPLY=length", real_texts[1]], [None, None])
    trim = LLMGenerate(backend=_backend(srv), task=_wiki_task(on_truncated="trim"), cache=False)
    out = list(trim.run(docs))
    assert len(out) == 2 and trim.ledger.extra["segments_fixed"] == {"trimmed_truncated": 1}
    capped = LLMGenerate(backend=_backend(srv), task=_wiki_task(max_reply_tokens=5), cache=False)
    assert list(capped.run(docs)) == [] and dict(capped.ledger.dropped) == {"over_length_cap": 1, "truncated": 1}
    limited = LLMGenerate(backend=_backend(srv), task=_wiki_task(), cache=False, limit=1)
    assert len(list(limited.run(docs[::-1]))) == 1 and dict(limited.ledger.dropped) == {"over_limit": 1}
