"""The math lane end to end on the sample's real math pages: math.yaml, the math quality model and
cut, and the result as a blend source whose shards megatron-core reads; and the same documents on
local, Spark and Ray."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from corpusforge.classifiers.labels import iter_texts
from corpusforge.classifiers.math_labels import MathScoreLabeller
from corpusforge.classifiers.training import train_and_save
from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.math import SHARED_MATH, write_math_sample, write_math_sample_evals
from corpusforge.samples.web import write_sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED_MATH / "gold.jsonl").exists(), reason="shared math pages absent"),
]

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"
BLEND = Path(__file__).resolve().parents[2] / "mixtures" / "examples" / "demo_blend_math.yaml"


def _config(name: str, root: Path, engine: str = "local", **over) -> dict:
    raw = yaml.safe_load((CONFIGS / name).read_text())
    raw = copy.deepcopy(raw)
    raw["progress"] = False
    raw["engine"] = {"type": engine, "workers": 2, "shuffle_buckets": 4}
    text = yaml.safe_dump(raw).replace("sample/", f"{root}/sample/").replace("runs/", f"{root}/runs/")
    raw = yaml.safe_load(text)
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lane")
    write_sample(str(root / "sample" / "warc"), seed=0)
    assert len(write_math_sample(str(root / "sample" / "warc"), seed=0)) == 2
    assert set(write_math_sample_evals(str(root / "sample" / "eval"), seed=0)) == {"math500", "gsm8k"}
    return root


@pytest.fixture(scope="module")
def math_run(sample):
    return run_pipeline(validate_pipeline(_config("math.yaml", sample)))


def test_math_yaml_keeps_math_pages_with_their_formulas(math_run):
    stages = {s.name: s for s in math_run.stages}
    assert all(s.balanced for s in math_run.stages)
    assert stages["math_prefilter"].docs_out >= 30 and stages["math_prefilter"].dropped["no_math_markers"] > 100
    extract = stages["extract"].extra
    for kind in ("delim", "script", "katex", "mathml", "img"):
        assert extract.get(f"formulas_{kind}", 0) > 0, kind
    for reason in (
        "mathml_malformed",
        "unbalanced_delimiters",
        "custom_delimiters",
        "formula_too_long",
        "all_formula_page",
    ):
        assert extract.get(reason, 0) >= 1, reason
    assert stages["exact_dedup"].dropped.get("exact_duplicate", 0) >= 1
    assert stages["fuzzy_dedup"].dropped.get("fuzzy_duplicate", 0) >= 1  # the edited copy
    # both planted problems found, the MATH-500 one though it is typeset with \tfrac, x², \left( \right)
    assert set(stages["decontaminate"].extra["benchmarks"]) == {"math500", "gsm8k"}
    docs = list(storage.read_documents(p) for p in storage.expand([f"{math_run.data_dir}/*.parquet"]))
    docs = [d for part in docs for d in part]
    assert docs and all(d.source == "math" for d in docs)
    assert sum("$" in d.text for d in docs) >= len(docs) - 2


def test_the_lane_is_a_blend_source_megatron_reads(math_run, sample, tmp_path):
    idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    from corpusforge.mixtures.export import run_mix
    from corpusforge.mixtures.manifest import load_mix_manifest
    from corpusforge.mixtures.spec import validate_blend

    # The web lane's output stands in as real article text (scrapinghub bodies): running web.yaml too costs minutes.
    truth = json.loads((SHARED / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    web = [Document(make_id("web", k), v["articleBody"], "web", {"language": "en"}) for k, v in sorted(truth.items())]
    storage.write_documents(str(sample / "runs" / "web" / "data" / "00000.parquet"), web)
    texts = list(iter_texts([f"{math_run.data_dir}/*.parquet"])) + [d.text for d in web]
    rows = list(MathScoreLabeller(texts).labels())
    train_and_save(rows, str(sample / "runs" / "models" / "math"), kind="fasttext", name="math_quality", balance=True)
    scored = run_pipeline(validate_pipeline(_config("math-score.yaml", sample)))
    quality = {s.name: s for s in scored.stages}["math_quality"]
    assert quality.docs_out > 0 and sum(quality.dropped.values()) > 0  # the 3+ cut had work
    blend = yaml.safe_load(BLEND.read_text())
    blend["output"] = str(tmp_path / "mix")
    blend["progress"] = False
    blend["sources"]["web"]["paths"] = [str(sample / "runs" / "web")]
    blend["sources"]["math_3plus"]["paths"] = [str(sample / "runs" / "math-scored")]
    result = run_mix(validate_blend(blend))
    manifest = load_mix_manifest(result.output)
    math_tokens = 0
    for shard, prefix in zip(manifest.shards(), manifest.prefixes()):
        ds = idx_mod.IndexedDataset(prefix)
        assert len(ds) == shard.documents and int(ds.sequence_lengths.sum()) == shard.tokens
        math_tokens += shard.tokens_by_source.get("math_3plus", 0)
    assert math_tokens > 0


def test_math_lane_is_identical_on_local_spark_and_ray(sample, tmp_path, spark_engine, ray_engine):
    def run(engine):
        raw = _config("math.yaml", sample, engine.name, output=str(tmp_path / engine.name))
        result = run_pipeline(validate_pipeline(raw), engine=engine)
        docs = {
            Path(p).name: sorted((d.id, d.text, repr(sorted(d.annotations.items()))) for d in storage.read_documents(p))
            for p in storage.expand([storage.join(result.data_dir, "*.parquet")])
        }
        ledger = [
            (
                s.name,
                s.docs_in,
                s.docs_out,
                dict(s.dropped),
                {k: v for k, v in s.extra.items() if not k.endswith("seconds")},
            )
            for s in result.stages
        ]
        return docs, ledger

    local = run(LocalEngine(workers=2))
    assert sum(len(v) for v in local[0].values()) > 10
    for engine in (spark_engine, ray_engine):
        assert run(engine) == local, engine.name
