"""The same behaviour from every backend: the embedded model in-process, the embedded model behind
`corpusforge llm serve` through the OpenAI-compatible client (real HTTP), and vLLM offline where installed."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from corpusforge.synthetic.backends.base import (
    CONTEXT_TOO_LONG,
    ChatRequest,
    SamplingSettings,
)
from corpusforge.synthetic.backends.vllm_offline import vllm_available

pytestmark = pytest.mark.slow  # loads the model (once per session) and starts one server process


@pytest.fixture(params=["embedded", "openai_server", "vllm_offline"])
def backend(request):
    if request.param == "embedded":
        return request.getfixturevalue("embedded_backend")
    if request.param == "openai_server":
        from corpusforge.synthetic.backends.embedded import MODEL_NAME
        from corpusforge.synthetic.backends.openai_server import (
            OpenAIServerBackend,
            OpenAIServerConfig,
        )

        return OpenAIServerBackend(
            OpenAIServerConfig(
                base_url=request.getfixturevalue("llm_serve"), model=MODEL_NAME, context_tokens=8192, timeout_s=120
            )
        )
    if not vllm_available():
        pytest.skip("vLLM is not installed (GPU nodes only)")
    from corpusforge.synthetic.backends.vllm_offline import (
        VllmOfflineBackend,
        VllmOfflineConfig,
    )

    return VllmOfflineBackend(VllmOfflineConfig(model="HuggingFaceTB/SmolLM2-135M-Instruct", max_model_len=8192))


def _run(backend, requests, on_reply=None):
    async def go():
        try:
            return await backend.generate(requests, on_reply)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def ask(text: str, **settings) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], SamplingSettings(**settings))


def test_a_batch_gets_one_reply_per_request_in_order_with_usage(backend):
    requests = [
        ask("Name a colour.", max_tokens=6),
        ask("Say hello to Ada.", max_tokens=6),
        ask("Write one word about the sea.", max_tokens=6),
    ]
    seen = []
    replies = _run(backend, requests, lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2]
    for r in replies:
        assert r.ok and r.text.strip()
        assert r.prompt_tokens > 5 and 1 <= r.completion_tokens <= 6
        assert r.finish_reason in ("stop", "length")


def test_a_reply_cut_by_max_tokens_says_length(backend):
    [reply] = _run(backend, [ask("Tell a long story about three dragons and a castle.", max_tokens=3)])
    assert reply.ok and reply.finish_reason == "length" and reply.completion_tokens == 3


def test_greedy_replies_repeat_and_seeded_samples_repeat(backend):
    greedy = ask("What is the capital of France?", max_tokens=8)
    sampled = ask("Invent a name for a cat.", max_tokens=8, temperature=0.9, seed=11)
    first = _run(backend, [greedy, sampled])
    second = _run(backend, [greedy, sampled])
    assert [r.text for r in first] == [r.text for r in second]


def test_a_prompt_over_the_context_is_refused_not_generated(backend):
    # prompt + max_tokens over the model's 8192-token context: a named failure, no text, no crash
    [reply, fine] = _run(backend, [ask("Summarise this. " * 30, max_tokens=8190), ask("Hi.", max_tokens=4)])
    assert reply.error == CONTEXT_TOO_LONG and reply.text == "" and reply.completion_tokens == 0
    assert fine.ok


def test_llm_serve_speaks_the_openai_api(llm_serve):
    import openai

    base = llm_serve.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(base + "/health") as r:
        assert json.loads(r.read())["status"] == "ok"
    with urllib.request.urlopen(llm_serve + "/models") as r:
        [model] = json.loads(r.read())["data"]
    client = openai.OpenAI(base_url=llm_serve, api_key="unused")
    out = client.chat.completions.create(
        model=model["id"], messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0
    )
    assert out.choices[0].message.content and out.usage.completion_tokens <= 4
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])


def test_rephrase_pipeline_runs_on_the_embedded_model(embedded_backend, real_texts, tmp_path):
    from corpusforge.core import storage
    from corpusforge.core.document import Document, make_id
    from corpusforge.pipelines.runner import iter_output, run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline
    from corpusforge.synthetic.backends.embedded import MODEL_NAME

    docs = [
        Document(make_id("web", f"e{i}"), t, "web", {}, {"quality_tier": tier})
        for i, (t, tier) in enumerate(zip(real_texts, ["low", "high"]))
    ]
    storage.write_documents(str(tmp_path / "in" / "00000.parquet"), docs)
    short = {"sampling": {"max_tokens": 12}, "postprocess": {"on_truncated": "trim", "min_document_tokens": 0}}
    config = {
        "name": "embedded",
        "progress": False,
        "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
        "stages": [
            {
                "type": "nemotron_rephrase",
                "backend": {"type": "embedded", "batch_size": 4},
                "tasks": {
                    t: short for t in ["wikipedia", "diverse_qa", "distill", "extract_knowledge", "knowledge_list"]
                },
            }
        ],
        "output": str(tmp_path / "out"),
        "engine": {"type": "local", "workers": 1},
    }  # runs in this process
    result = run_pipeline(validate_pipeline(config))
    stage = result.stages[-1]
    assert stage.docs_in == 5 and stage.balanced and stage.extra["llm_requests"] == 5
    assert 0 < stage.extra["llm_completion_tokens"] <= 5 * 12 and stage.extra["llm_latency_p50_ms"] > 0
    outputs = list(iter_output(result.output))
    assert len(outputs) == stage.docs_out
    assert all(d.meta["model"] == MODEL_NAME and d.source.startswith("synthetic/") for d in outputs)
