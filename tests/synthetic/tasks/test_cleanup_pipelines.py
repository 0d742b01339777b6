"""The cleanup pipelines as shipped: code_pages.yaml on the sample's WARCs and math-cleanup.yaml on math-lane output
(the LLM behind a loopback server), and the cleanup stage against the embedded model served over real HTTP."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.math import SHARED_MATH, shared_math_pages, write_math_sample, write_math_sample_evals
from corpusforge.samples.web import write_sample
from corpusforge.stages.web.extract import Extract
from corpusforge.synthetic.backends.embedded import MODEL_NAME
from corpusforge.synthetic.tasks.cleanup import LLMCleanup
from corpusforge.synthetic.tasks.cleanup_checks import formula_retention

pytestmark = pytest.mark.skipif(not (SHARED_MATH / "gold.jsonl").exists(), reason="shared math pages absent")

CONFIGS = Path(__file__).resolve().parents[3] / "pipelines" / "configs"
HUMANEVAL = SHARED_MATH.parent / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"


def echo(prompt: str) -> tuple[str, float]:
    """A model that returns the page text it was sent, as a faithful cleaner would keep it."""
    return prompt.rsplit("Text:\n", 1)[-1], 0.0


def config(name: str, root: Path, server, llm_stage: int) -> dict:
    """A shipped config with its paths under `root` and its LLM stage pointed at `server`."""
    raw = copy.deepcopy(yaml.safe_load((CONFIGS / name).read_text()))
    raw = yaml.safe_load(yaml.safe_dump(raw).replace("sample/", f"{root}/sample/").replace("runs/", f"{root}/runs/"))
    raw["progress"] = False
    raw["engine"] = {"type": "local", "workers": 1}  # in-process: worker start-up would be most of the test
    raw["stages"][llm_stage]["backend"] = {"type": "openai", "base_url": server.url, "model": "m", "concurrency": 8}
    return raw


def test_code_pages_yaml_on_the_sample(chat_server, tmp_path):
    write_sample(str(tmp_path / "sample" / "warc"), seed=0)
    write_math_sample(str(tmp_path / "sample" / "warc"), seed=0)
    (tmp_path / "sample" / "code" / "eval").mkdir(parents=True)
    (tmp_path / "sample" / "code" / "eval" / "humaneval.jsonl").write_bytes(gzip.decompress(HUMANEVAL.read_bytes()))
    srv = chat_server(respond=echo)
    result = run_pipeline(validate_pipeline(config("code_pages.yaml", tmp_path, srv, llm_stage=3)))
    stages = {s.name: s for s in result.stages}
    assert all(s.balanced for s in result.stages)
    # three real pages with code (Stack Overflow, Android and Microsoft Learn references) and the sample's
    # planted page quoting a HumanEval prompt
    assert stages["code_page_prefilter"].docs_out == 4
    cleanup = stages["llm_cleanup"]
    assert cleanup.docs_out == 4 and cleanup.extra["chunks_cleaned"] == cleanup.extra["chunks"] == srv.received
    assert stages["decontaminate"].dropped == {"contaminated": 1}
    docs = list(iter_output(result.output))
    assert len(docs) == 3 and all(d.source == "code_pages" for d in docs)
    assert all("```" in d.text and d.meta["prompt"].startswith("html_to_text_code@v1#") for d in docs)
    assert all("character for character" in p for p in srv.prompts)


def test_math_cleanup_yaml_on_math_lane_output(chat_server, tmp_path):
    rows = [r for r in shared_math_pages() if r["kind"] in ("delim", "img")][:5]
    extract = Extract(extractor="math")
    docs = [
        d
        for r in rows
        for d in extract.run(
            [Document(make_id("math", r["name"]), r["html"].decode("utf-8", "replace"), "math", {"url": r["url"]})]
        )
    ]
    storage.write_documents(str(tmp_path / "runs" / "math" / "data" / "00000.parquet"), docs)
    write_math_sample_evals(str(tmp_path / "sample" / "eval"), seed=0)
    srv = chat_server(respond=echo)
    result = run_pipeline(validate_pipeline(config("math-cleanup.yaml", tmp_path, srv, llm_stage=0)))
    stages = {s.name: s for s in result.stages}
    assert all(s.balanced for s in result.stages)
    assert stages["llm_cleanup"].docs_out == 1 and stages["llm_cleanup"].dropped == {"over_limit": len(docs) - 1}
    out = list(iter_output(result.output))
    assert len(out) == 1 and all("math" in d.annotations["scores"] for d in out)
    source = {d.id: d for d in docs}
    for d in out:  # every formula of the page is still there
        assert formula_retention(source[d.meta["source_id"]].text, d.text).share == 1.0


@pytest.mark.slow
def test_cleanup_on_the_embedded_model_over_http(llm_serve):
    """The real 135M model: whatever it writes, every chunk ends cleaned or under a named reason, and a page never
    loses its formulas to it (a reply that drops them gives the chunk back)."""
    [row] = [r for r in shared_math_pages() if r["name"] == "mathjax2_sample_macros"]
    [page] = list(Extract(extractor="math").run([Document("p", row["html"].decode("utf-8"), "math", {})]))
    stage = LLMCleanup(
        backend={"type": "openai", "base_url": llm_serve, "model": MODEL_NAME, "timeout_s": 300},
        cache=False,
        chunk_tokens=256,
        sampling={"temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_tokens": 96},
    )
    out = list(stage.run([page]))
    extra = stage.ledger.extra
    assert stage.ledger.balanced and extra["llm_requests"] == extra["chunks"] >= 1
    outcomes = extra.get("chunks_cleaned", 0) + sum((extra.get("chunks_kept_original") or {}).values())
    outcomes += sum((extra.get("chunks_dropped") or {}).values())
    assert outcomes == extra["chunks"]
    assert set(extra.get("chunks_kept_original") or {}) <= {"lost_formulas", "truncated", "refusal", "empty_reply"}
    if out:
        assert out[0].meta["model"] == MODEL_NAME and json.loads(out[0].meta["cleanup"])["chunks"] == extra["chunks"]
        assert formula_retention(page.text, out[0].text).share >= 0.5
    else:
        assert set(stage.ledger.dropped) == {"no_useful_content"}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["spark", "ray"])
def test_math_cleanup_is_identical_on_every_engine(chat_server, tmp_path, engine, request):
    extract = Extract(extractor="math")
    rows = [r for r in shared_math_pages() if r["kind"] in ("delim", "img", "mathml")][:6]
    for n in range(2):  # two input files: the shipped config cleans one page of each
        docs = [
            d
            for r in rows[n::2]
            for d in extract.run(
                [Document(make_id("math", r["name"]), r["html"].decode("utf-8", "replace"), "math", {"url": r["url"]})]
            )
        ]
        storage.write_documents(str(tmp_path / "runs" / "math" / "data" / f"0000{n}.parquet"), docs)
    write_math_sample_evals(str(tmp_path / "sample" / "eval"), seed=0)
    srv = chat_server(respond=echo)
    results = {}
    for name in ("local", engine):
        raw = config("math-cleanup.yaml", tmp_path, srv, llm_stage=0)
        raw["output"] = str(tmp_path / "out" / name)
        if name != "local":
            raw["engine"] = {"type": engine}
        engine_obj = request.getfixturevalue(f"{engine}_engine") if name != "local" else None
        results[name] = run_pipeline(validate_pipeline(raw), engine_obj)
    local, other = (
        sorted((d.id, d.text, d.meta["source_id"]) for d in iter_output(results[k].output)) for k in results
    )
    assert len(local) == 2 and local == other
    strip = ("seconds", "extra")
    assert [{k: v for k, v in s.to_dict().items() if k not in strip} for s in results["local"].stages] == [
        {k: v for k, v in s.to_dict().items() if k not in strip} for s in results[engine].stages
    ]
