"""LLM stages inside `corpusforge run`: a killed run re-sends only unanswered requests, the cache works on
s3://, every engine writes the same documents, and rephrased documents blend into Megatron shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

TIERS = ["low", "high", "medium", "medium-high"]


def write_input(root: Path, texts: list[str], files: int = 2) -> str:
    """A scored run output: real article bodies with quality tiers, in `files` Parquet files."""
    docs = [
        Document(
            make_id("web", f"a{i}"),
            t,
            "web",
            {"language": "en", "url": f"https://example.org/{i}"},
            {"quality_tier": TIERS[i % 4], "quality_bucket": [2, 18, 9, 14][i % 4]},
        )
        for i, t in enumerate(texts)
    ]
    for f in range(files):
        storage.write_documents(str(root / "data" / f"{f:05d}.parquet"), docs[f::files])
    return str(root / "data" / "*.parquet")


def pipeline(inputs: str, output: str, server, engine: str = "local", workers: int = 1, **stage) -> dict:
    return {
        "name": "rephrase-test",
        "progress": False,
        "input": {"type": "parquet", "paths": [inputs]},
        "stages": [
            {
                "type": "nemotron_rephrase",
                "batch_requests": 4,
                "backend": {
                    "type": "openai",
                    "base_url": server.url,
                    "model": "m",
                    "concurrency": 2,
                    "timeout_s": 10,
                    "backoff_s": 0.01,
                },
                **stage,
            }
        ],
        "output": output,
        "engine": {"type": engine, "workers": workers},
    }


def _outputs(output: str) -> list[tuple[str, str, str]]:
    return sorted((d.id, d.source, d.text) for d in iter_output(output))


def test_killed_run_resends_only_unanswered_requests(chat_server, real_texts, tmp_path):
    srv = chat_server(delay=0.15)
    inputs = write_input(tmp_path / "in", real_texts[:8], files=1)
    cfg = tmp_path / "rephrase.yaml"
    cfg.write_text(yaml.safe_dump(pipeline(inputs, str(tmp_path / "out"), srv)))
    cmd = [sys.executable, "-m", "corpusforge.cli", "run", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cache = tmp_path / "out" / "_work" / "llm_cache" / "nemotron_rephrase"

    def cached_lines() -> int:
        return sum(p.read_bytes().count(b"\n") for p in cache.rglob("*.jsonl")) if cache.exists() else 0  # whole lines

    # (the server's count runs ahead of the client's: a reply sent is not yet a reply stored)
    deadline = time.time() + 120
    while cached_lines() < 8 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # requests in flight at the kill reach the server but their replies are lost
    cached = cached_lines()
    assert not (tmp_path / "out" / "data").exists() or not list((tmp_path / "out" / "data").glob("*.parquet"))
    first = srv.received
    assert 8 <= cached <= first

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    [stage] = [
        s
        for s in json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]
        if s["name"] == "nemotron_rephrase"
    ]
    total = stage["extra"]["llm_requests"] + stage["extra"]["llm_cache_hits"]
    assert stage["extra"]["llm_cache_hits"] == cached
    assert srv.received - first == stage["extra"]["llm_requests"] == total - cached  # only the unanswered
    assert stage["balanced"] and stage["docs_out"] == 4 * 1 + 4 * 4  # 4 low/medium documents, 4 high ones x 4 tasks
    report = (tmp_path / "out" / "report.html").read_text()
    assert "llm_latency_p50_ms" in report and "llm_cache_hits" in report


@pytest.mark.slow
def test_request_cache_on_s3(chat_server, real_texts, tmp_path, s3_server):
    srv = chat_server()
    inputs = write_input(tmp_path / "in", real_texts[:4])
    first = run_pipeline(validate_pipeline(pipeline(inputs, f"{s3_server}/runs/a", srv)))
    sent = srv.received
    assert sent > 0 and storage.expand([f"{s3_server}/runs/a/_work/llm_cache/nemotron_rephrase/*/*/*.jsonl"])
    # a second run of the same stage over the same documents, sharing the first run's cache: nothing is sent
    cache = f"{s3_server}/runs/a/_work/llm_cache/nemotron_rephrase"
    second = run_pipeline(validate_pipeline(pipeline(inputs, f"{s3_server}/runs/b", srv, cache_dir=cache)))
    assert srv.received == sent
    assert _outputs(first.output) == _outputs(second.output)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["spark", "ray"])
def test_every_engine_writes_the_same_synthetic_documents(chat_server, real_texts, tmp_path, engine, request):
    srv = chat_server()
    inputs = write_input(tmp_path / "in", real_texts[:6], files=3)
    local = run_pipeline(validate_pipeline(pipeline(inputs, str(tmp_path / "local"), srv, workers=2)))
    engine_obj = request.getfixturevalue(f"{engine}_engine")
    other = run_pipeline(validate_pipeline(pipeline(inputs, str(tmp_path / engine), srv, engine=engine)), engine_obj)
    assert _outputs(local.output) == _outputs(other.output) and len(_outputs(local.output)) > 6
    strip = ("seconds", "extra")
    assert [{k: v for k, v in s.to_dict().items() if k not in strip} for s in local.stages] == [
        {k: v for k, v in s.to_dict().items() if k not in strip} for s in other.stages
    ]


@pytest.mark.slow
def test_rephrased_documents_blend_into_megatron_shards(chat_server, real_texts, tmp_path):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from corpusforge.mixtures.export import run_mix
    from corpusforge.mixtures.manifest import load_mix_manifest
    from corpusforge.mixtures.spec import validate_blend

    srv = chat_server()
    inputs = write_input(tmp_path / "scored", real_texts)
    run_pipeline(validate_pipeline(pipeline(inputs, str(tmp_path / "rephrase"), srv)))
    synthetic = [
        "synthetic/wikipedia",
        "synthetic/diverse_qa",
        "synthetic/distill",
        "synthetic/extract_knowledge",
        "synthetic/knowledge_list",
    ]
    blend = {
        "name": "synthetic",
        "output": str(tmp_path / "mix"),
        "seed": 3,
        "token_budget": 6000,
        "shard_tokens": 2000,
        "progress": False,
        "engine": {"type": "local", "workers": 1},
        "tokenizer": {"train_vocab_size": 600, "train_sample_docs": 200},
        "sources": {
            "web": {"paths": [str(tmp_path / "scored")], "where": {"source": ["web"]}},
            "rephrased": {"paths": [str(tmp_path / "rephrase")], "where": {"source": synthetic}},
        },
        "phases": [{"name": "p1", "fraction": 1.0, "weights": {"web": 0.5, "rephrased": 0.5}}],
    }
    result = run_mix(validate_blend(blend))
    manifest = load_mix_manifest(result.output)
    [phase] = manifest.phases
    assert phase.tokens_by_source["rephrased"] > 0 and abs(phase.shares["rephrased"] - 0.5) < 0.05
    assert sum(len(IndexedDataset(p)) for p in manifest.prefixes()) == sum(s.documents for s in manifest.shards())
