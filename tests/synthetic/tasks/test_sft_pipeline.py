"""pipelines/configs/sft.yaml end to end against a scripted teacher over real HTTP: every generator and filter
runs, every drop is named, the ledger balances, the outputs load with `datasets`, each row says how it was made,
and a run killed mid-way resumes without re-sending a request that was answered."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from corpusforge.core.config import ConfigError
from corpusforge.core.document import Document, make_id
from corpusforge.core.writer import DocumentWriter
from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import load_pipeline, validate_pipeline

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / ".." / "shared" / "data"

pytestmark = pytest.mark.slow  # whole pipelines (a few seconds each against the loopback server)


def user_prompt(body: dict) -> str:
    """The last user message of a request body (or the raw prompt of a text completion)."""
    if "prompt" in body:
        return body["prompt"]
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def teacher_script():
    """Replies in the shape each prompt of synthetic/prompts asks for, with planted failures to be dropped."""
    magpie = itertools.count()

    def reply(body: dict):
        p = user_prompt(body)
        topic = re.search(r'"([^"]+)"', p)
        topic = topic.group(1) if topic else "it"
        if "prompt" in body:  # Magpie: a raw completion of the pre-query template
            n = next(magpie)
            return f"How do I plan a garden with {max(n, 1) + 2} raised beds on a slope?"  # the first two alike
        if "narrower subtopics" in p:
            return f"1. {topic} at home\n2. {topic} in history"
        if "Answer with one word: Yes or No" in p and "a topic of" in p:
            return "No" if "history" in topic else "Yes"
        if "Answer with one word: Yes or No" in p and "QUESTION OR REQUEST" in p:
            return "No" if "Summarise" in p else "Yes"
        if "Do they ask for the same thing" in p:
            return "No"
        if (
            "questions or requests that a curious person" in p
            or "writing tasks, each asking" in p
            or "mathematics problems about" in p
            or "programming problems in" in p
        ):
            return f"1. What is worth knowing first about {topic}?\n2. Which mistakes do beginners make with {topic}?"
        if "Rewrite it so that it gives more context" in p or "Rewrite it with one or two extra" in p:
            return f"I am new to this and want a clear answer. {topic}"
        if "varied tasks to give to an assistant" in p:
            return (
                "7. Explain why leaves change colour in autumn to a ten-year-old child.\n"  # near-copy of a seed
                "8. Draw a picture of a lighthouse at dusk.\n"  # banned keyword
                "9. Hi\n"  # too short
                "10. Compare the costs of renting and buying a flat over ten years.\n"
                "11. Write a limerick about a forgetful librarian."
            )
        if p.startswith("TEXT:") and "Write 3 questions" in p:
            return "1. What does the text say about its main subject?\n2. Summarise the text in two sentences."
        if "Rewrite the prompt below" in p or "brand new prompt" in p:
            return "Rewritten prompt: " + p.rsplit("Prompt: ", 1)[1] + " Give one worked example in your answer."
        if "Write the user's next message" in p:
            return "Can you make that shorter and add a concrete example?"
        if "Reply with the digit only" in p:
            low = "Which mistakes" in p
            top = {"1": -0.1, "2": -3.0} if low else {"3": -0.2, "4": -1.8}
            token = max(top, key=top.get)
            return {
                "message": {"role": "assistant", "content": token},
                "logprobs": {
                    "content": [
                        {
                            "token": token,
                            "logprob": top[token],
                            "top_logprobs": [{"token": t, "logprob": v} for t, v in top.items()],
                        }
                    ]
                },
            }
        if "limerick" in p:
            return "I'm sorry, but I can't help with that."  # a refusal: dropped by the response filter
        return "Here is a careful answer. It covers the main points in order."

    return reply


def write_corpus(path: Path, texts: list[str]) -> str:
    docs = [
        Document(make_id("web", f"t{i}"), t, "web", {"url": f"https://example.org/{i}"}) for i, t in enumerate(texts)
    ]
    with DocumentWriter(str(path)) as w:
        w.write_all(docs)
    return str(path)


def sft_config(url: str, out: Path, corpus: str, **engine) -> dict:
    """pipelines/configs/sft.yaml with every LLM stage pointed at `url` and the benchmarks at the real sets."""
    cfg = yaml.safe_load((REPO / "pipelines" / "configs" / "sft.yaml").read_text())
    cfg["input"]["paths"] = [
        str(REPO / "synthetic" / "seeds" / "sft_topics_v1.yaml"),
        str(REPO / "synthetic" / "seeds" / "sft_instructions_v1.yaml"),
        corpus,
    ]
    for stage in cfg["stages"]:
        if "backend" in stage:
            stage["backend"] = {
                "type": "openai",
                "base_url": url,
                "model": "teacher",
                "max_retries": 0,
                "timeout_s": 300,
                "concurrency": 16,
            }
        if stage["type"] == "magpie":
            stage["backend"].update(raw_completions=True, pre_query_template="<|user|>\n")
        if stage["type"] == "llm_judge":
            stage["min_scores"] = {"helpfulness": 2.0}
        if stage["type"] == "decontaminate":
            for b in stage["benchmarks"]:
                b["path"] = str(REPO / b["path"])
    cfg.update(output=str(out), progress=False, engine={"type": "local", "workers": 1, **engine})
    return cfg


def stage_stats(out: Path) -> dict:
    return {s["name"]: s for s in json.loads((out / "stats.json").read_text())["stages"]}


@pytest.fixture
def corpus(tmp_path, real_texts):
    return write_corpus(tmp_path / "corpus.parquet", real_texts[:3])


def test_sft_pipeline_generates_filters_and_writes_loadable_outputs(scripted_server, corpus, tmp_path):
    srv = scripted_server(teacher_script())
    out = tmp_path / "sft"
    result = run_pipeline(validate_pipeline(sft_config(srv.url, out, corpus)))
    stats = stage_stats(out)
    assert all(s["balanced"] for s in stats.values())
    drops = {name: s["dropped"] for name, s in stats.items()}
    assert drops["topic_prompts"] == {} and stats["topic_prompts"]["extra"]["topics_rejected_by_check"] == {"math": 1}
    # two requests, the same five lines each: a near-copy of a seed, a banned keyword and a one-word task each
    # time, and the second time the two good ones are near-copies of the first time's
    assert drops["self_instruct"] == {"too_similar": 4, "banned_keyword": 2, "too_short": 2}
    assert drops["magpie"] == {"duplicate_query": 1}
    assert drops["closed_qa_prompts"] == {"over_limit": 1}  # limit: 2 of the 3 corpus documents
    assert drops["fuzzy_dedup"]["fuzzy_duplicate"] > 0
    assert drops["decontaminate"] == {}
    assert drops["answerability"] == {"unanswerable": 1}  # "Summarise the text ...": the script says No
    assert drops["sft_responses"] == {"refusal": 1}  # the limerick request
    low = stats["llm_judge"]["extra"]["judge_helpfulness"].get("1.0", 0)
    assert low > 0 and drops["llm_judge"] == {"judge_low_helpfulness": low}  # "Which mistakes ...": scored ~1.1
    assert result.report_path.endswith("report.html")

    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in (out / "sft" / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == stats["sft_export"]["docs_out"] > 0
    for kind, path in (("json", out / "sft" / "sft.jsonl"), ("parquet", out / "sft" / "sft.parquet")):
        ds = datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
        assert ds.num_rows == len(rows)
        assert ds[0]["messages"][-1]["role"] == "assistant" and ds[0]["messages"][0]["role"] == "user"
    methods = {r["method"] for r in rows}
    assert methods == {"topic_tree", "self_instruct", "magpie", "closed_qa", "evol_instruct", "dialogue"}
    for r in rows:
        steps = json.loads(r["generation"])
        assert steps and steps[-1]["step"] == "sft_responses.response" and r["teacher"] == "teacher"
        assert all(s["prompt"] and "sampling" in s for s in steps)
        assert set(r["judge_scores"]) == {"helpfulness", "correctness", "coherence"}
        assert r["judge_scores"]["helpfulness"] >= 0.25 and r["parent_ids"]
    # an open-QA question keeps its whole history, through an evolution if it had one
    tree = next(r for r in rows if r["category"] == "open_qa")
    assert [s["step"] for s in json.loads(tree["generation"])][:4] == [
        "topic_prompts.macro",
        "topic_prompts.subtopics",
        "topic_prompts.questions_open_qa",
        "topic_prompts.revise_open_qa",
    ]
    assert any(r["turns"] == 2 for r in rows)
    assert all(r["judge_scores"]["helpfulness"] > 2 for r in rows)


def test_magpie_refuses_a_backend_without_raw_completions(tmp_path, corpus):
    cfg = sft_config("http://127.0.0.1:9/v1", tmp_path / "x", corpus)
    next(s for s in cfg["stages"] if s["type"] == "magpie")["backend"].pop("raw_completions")
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"magpie.*backend: magpie needs raw text completions.*raw_completions off"):
        load_pipeline(path)


def _cache_lines(out: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (out / "_work" / "llm_cache").rglob("*.jsonl"))


def test_a_killed_run_resumes_without_resending_answered_requests(scripted_server, corpus, tmp_path):
    # The whole request count of a clean run, then a run stopped after `stop` answers and resumed.
    clean = scripted_server(teacher_script())
    run_pipeline(validate_pipeline(sft_config(clean.url, tmp_path / "clean", corpus)))
    total = clean.answered
    stop = total // 2
    srv = scripted_server(teacher_script(), hang_after=stop)
    out = tmp_path / "killed"
    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(sft_config(srv.url, out, corpus)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli", "run", str(cfg_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (srv.received > stop and _cache_lines(out) >= stop):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        time.sleep(0.2)
    assert srv.answered == stop and _cache_lines(out) == stop  # every answer stored, the rest hanging
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    srv.hang_after = None
    run_pipeline(validate_pipeline(sft_config(srv.url, out, corpus)))
    assert srv.answered == total  # the resumed run asked only what the killed one never got answered
    hits = sum(s["extra"].get("llm_cache_hits", 0) for s in stage_stats(out).values())
    assert 0 < hits <= stop
    rows = (out / "sft" / "sft.jsonl").read_text().splitlines()
    assert len(rows) == len((tmp_path / "clean" / "sft" / "sft.jsonl").read_text().splitlines()) > 0
