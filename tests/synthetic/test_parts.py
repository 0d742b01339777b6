"""Chunking, reply post-processing, prompt templates and accounting on their own."""

from __future__ import annotations

import pytest

from corpusforge.synthetic.accounting import (
    finalize,
    latency_bucket,
    percentile_from_histogram,
)
from corpusforge.synthetic.backends.base import ChatReply
from corpusforge.synthetic.chunking import (
    ChunkingConfig,
    max_segment_tokens,
    split_segments,
)
from corpusforge.synthetic.postprocess import (
    PostProcessConfig,
    ReplyProcessor,
    knowledge_list,
    qa_pairs,
    strip_markdown,
)
from corpusforge.synthetic.prompt_template import PromptTemplate, load_prompt
from corpusforge.synthetic.tasks.rephrase import DEFAULT_TASKS, NemotronRephrase
from corpusforge.synthetic.tokens import token_counter


@pytest.fixture(scope="module")
def counter():
    return token_counter("embedded")


def test_line_greedy_segments_respect_the_budget(counter, real_texts):
    text = "\n".join(real_texts[:4])
    chunked = split_segments(text, counter.count_many, max_tokens=120, min_tokens=10)
    assert chunked.segments and all(10 <= s.tokens <= 120 for s in chunked.segments)
    # whole lines only, in order, nothing invented; only over-budget lines and short tails are missing
    lines = [x for x in text.split("\n") if x.strip()]
    kept = [x for s in chunked.segments for x in s.text.split("\n")]
    assert all(x in lines for x in kept) and kept == sorted(kept, key=lines.index)
    too_long = [x for x in lines if counter.count(x) > 120]
    assert chunked.lines_too_long == len(too_long) and not set(too_long) & set(kept)
    # counted tokens match a real count of each joined segment within one token per joining newline
    for s in chunked.segments:
        assert abs(counter.count(s.text) - s.tokens) <= s.text.count("\n") + 1


def test_segment_budget_leaves_room_for_the_prompt():
    assert max_segment_tokens(ChunkingConfig(max_input_tokens=512), prompt_tokens=90) == 420  # Curator: - prefix - 2


def test_reply_checks_name_every_drop_and_fix(counter):
    proc = ReplyProcessor(
        PostProcessConfig(
            required_prefix="Here is a paraphrased version:",
            strip_markdown=True,
            strip_quotes=True,
            max_reply_tokens=40,
        ),
        counter.count,
    )
    ok = proc.check(ChatReply(text='Here is a paraphrased version:\n"The **river** rises in the hills."'))
    assert (ok.text, ok.reason, ok.fixes) == ("The river rises in the hills.", None, ["markdown_removed"])
    assert proc.check(ChatReply(error="http_500")).reason == "request_failed"
    assert proc.check(ChatReply(error="context_too_long")).reason == "context_too_long"
    assert proc.check(ChatReply(text="   ")).reason == "empty_reply"
    assert proc.check(ChatReply(text="I'm sorry, but I cannot do that.")).reason == "refusal"
    assert proc.check(ChatReply(text="Sure, here it is: the river.")).reason == "missing_prefix"
    assert proc.check(ChatReply(text="Here is a paraphrased version: x", finish_reason="length")).reason == "truncated"
    long = "Here is a paraphrased version: " + "The river rises in the hills and flows to the sea. " * 10
    assert proc.check(ChatReply(text=long)).reason == "over_length_cap"
    lenient = ReplyProcessor(
        PostProcessConfig(
            required_prefix="Here is a paraphrased version:", prefix_match="lenient", on_truncated="trim"
        ),
        counter.count,
    )
    fixed = lenient.check(
        ChatReply(text="Here is a paraphrased version of the text:\nOne. Two. Thr", finish_reason="length")
    )
    assert (fixed.text, fixed.fixes) == ("One. Two.", ["trimmed_truncated", "prefix_normalised"])


def test_curator_style_cleanups():
    assert strip_markdown("## Title\n**bold** and [a link](http://x) `code`") == "Title\nbold and a link code"
    assert knowledge_list("Here are the facts:\n- one\n  - two\n- three") == "one\ntwo\nthree"
    assert knowledge_list("- first\n- second") == "first\nsecond"
    reply = (
        "Here are the questions and answers based on the provided text:\n- Question: A? Answer: a.\n"
        "- Question: B?\nAnswer: b."
    )
    assert qa_pairs(reply) == ["Question: A? Answer: a.", "Question: B?\nAnswer: b."]
    assert qa_pairs("Some preamble.\nQuestion: A? Answer: a.") == []  # prose before the first question


def test_diverse_qa_merge_appends_shuffled_pairs_to_the_original(counter):
    proc = ReplyProcessor(PostProcessConfig(merge="diverse_qa"), counter.count)
    replies = ["Question: Q1? Answer: a1.\nQuestion: Q2? Answer: a2.", "Question: Q3? Answer: a3."]
    text, reason = proc.merge("Original text.", replies, doc_tokens=300, seed="doc-1")
    assert reason is None and text.startswith("Original text.\n\nQuestion: ")
    assert set(text.split("\n\n")[1:]) <= {
        "Question: Q1? Answer: a1.",
        "Question: Q2? Answer: a2.",
        "Question: Q3? Answer: a3.",
    }
    assert proc.merge("Original text.", replies, 300, seed="doc-1") == (text, None)  # seeded by document
    assert proc.merge("x", ["no questions here"], 300, seed="d") == (None, "no_qa_pairs")


def test_prompt_files_have_versions_and_parts():
    p = load_prompt("nemotron_distill", "1")
    system, user = p.parts
    assert system and "{{document}}" in user and p.key.startswith("nemotron_distill@v1#")
    msgs = p.messages(document="Water boils at 100 C.")
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[1]["content"].endswith("Water boils at 100 C.")
    assert PromptTemplate("x", "1", "plain {{document}}").messages(document="d") == [
        {"role": "user", "content": "plain d"}
    ]
    assert PromptTemplate(p.name, "2", p.text).key.startswith("nemotron_distill@v2#")  # the version is in the key


def test_rephrase_defaults_follow_the_recipe_and_overrides_merge():
    cfg = NemotronRephrase.Config(tasks={"wikipedia": {"sampling": {"max_tokens": 96}}})
    wiki = cfg.tasks["wikipedia"]
    assert wiki.sampling.max_tokens == 96 and wiki.sampling.temperature == 0.5 and wiki.sampling.top_p == 0.9
    assert wiki.chunking.max_input_tokens == 512 and wiki.postprocess.max_reply_tokens == 510
    assert cfg.tasks["distill"].chunking.max_input_tokens == 2000 and cfg.tasks["distill"].sampling.max_tokens == 1600
    assert {k: v["chunking"]["min_segment_tokens"] for k, v in DEFAULT_TASKS.items()} == {
        "wikipedia": 5,
        "diverse_qa": 30,
        "distill": 10,
        "extract_knowledge": 30,
        "knowledge_list": 30,
    }
    with pytest.raises(ValueError, match="routes.high: unknown tasks"):
        NemotronRephrase.Config(routes={"high": ["poetry"]})


def test_latency_percentiles_from_a_mergeable_histogram():
    hist: dict[str, int] = {}
    for ms in [100] * 50 + [200] * 40 + [1000] * 10:
        key = latency_bucket(ms)
        hist[key] = hist.get(key, 0) + 1
    p50, p90, p99 = (percentile_from_histogram(hist, q) for q in (0.5, 0.9, 0.99))
    assert 100 <= p50 < 100 * 1.19 and 200 <= p90 < 200 * 1.19 and 1000 <= p99 < 1000 * 1.19
    out = finalize({"llm_latency_ms": hist, "llm_completion_tokens": 500, "llm_wall_seconds": 10.0})
    assert out["llm_latency_p50_ms"] == p50 and out["llm_completion_tokens_per_worker_s"] == 50.0


def test_demo_configs_are_valid():
    from pathlib import Path

    from corpusforge.mixtures.spec import load_blend
    from corpusforge.pipelines.schema import load_pipeline

    root = Path(__file__).resolve().parents[2]
    config = load_pipeline(root / "pipelines" / "configs" / "rephrase.yaml")
    [stage] = config.stages
    assert stage.type == "nemotron_rephrase" and stage.backend.type == "embedded" and stage.sample
    assert all(t.sampling.max_tokens == 96 for t in stage.tasks.values())
    assert stage.tasks["diverse_qa"].chunking.max_input_tokens == 1000  # the recipe's limits stay under the demo caps
    vllm = load_pipeline(
        root / "pipelines" / "configs" / "rephrase.yaml",
        ['stages.0.backend={type: openai, base_url: "http://vllm-host:8000/v1", model: Qwen/Qwen3-30B-A3B}'],
    )
    assert vllm.stages[0].backend.type == "openai" and vllm.stages[0].backend.concurrency == 64
    blend = load_blend(root / "mixtures" / "examples" / "demo_blend_synthetic.yaml")
    assert "synthetic/wikipedia" in blend.sources["rephrased"].where.source
