"""The code lane end to end on the sample: code.yaml, the report's figures, repository packing, a blend whose
shards megatron-core reads; and the same documents and ledger on local, Spark and Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from corpusforge.core import storage
from corpusforge.mixtures.export import run_mix
from corpusforge.mixtures.manifest import load_mix_manifest
from corpusforge.mixtures.spec import validate_blend
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.code import SHARED_HUMANEVAL, write_code_sample

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CODE_YAML = ROOT / "pipelines" / "configs" / "code.yaml"
REPO_YAML = ROOT / "pipelines" / "configs" / "code_repo.yaml"
BLEND_YAML = ROOT / "mixtures" / "examples" / "demo_blend_code.yaml"


def _config(path: Path, tmp: Path, output: str, inputs: list[str], engine: str = "local", **changes):
    data = yaml.safe_load(path.read_text())
    data["output"], data["input"]["paths"] = str(tmp / output), inputs
    data["engine"] = {"type": engine, "workers": 2, "shuffle_buckets": 4}
    for stage in data["stages"]:
        if stage["type"] == "decontaminate":
            stage["benchmarks"][0]["path"] = str(tmp / "code" / "eval" / "humaneval.jsonl")
        stage.update(changes.get(stage["type"], {}))
    return validate_pipeline(data)


@pytest.fixture(scope="module")
def code_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("codelane")
    planted = write_code_sample(str(tmp / "code"))
    config = _config(CODE_YAML, tmp, "runs/code", [str(tmp / "code" / "repos" / "*")], fuzzy_dedup={"partitions": 2})
    return tmp, planted, run_pipeline(config, engine=LocalEngine(workers=2))


def test_code_yaml_on_the_sample(code_run):
    tmp, planted, result = code_run
    stats = json.loads(Path(result.stats_path).read_text())
    assert stats["balanced"]
    st = {s["name"]: s for s in stats["stages"]}
    assert st["repo"]["extra"]["snapshots"] == {"folder": 13, "git": 1, "zip": 1, "tar": 2}
    assert {"binary_file", "corrupt_archive", "invalid_utf8", "symlink", "empty_file"} <= set(st["repo"]["dropped"])
    dropped_licenses = {r.split(":", 1)[1] for r in st["license_filter"]["dropped"]}
    assert {"GPL-2.0-only", "GPL-3.0-only", "MPL-2.0"} <= dropped_licenses
    kept_licenses = set(st["license_filter"]["extra"]["licenses"])
    assert {"MIT", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "no license"} <= kept_licenses
    langs = st["code_language"]["extra"]["languages"]
    assert {"Python", "C", "C++", "Objective-C", "MATLAB", "Perl", "Prolog"} <= set(langs)
    assert st["exact_dedup"]["dropped"]["exact_duplicate"] >= 1
    assert st["fuzzy_dedup"]["dropped"]["fuzzy_duplicate"] >= 1
    assert st["code_secrets"]["extra"]["secrets_redacted"] == {
        "AWS Access Key": 1,
        "GitHub Token": 1,
        "Slack Token": 1,
        "JSON Web Token": 1,
        "Private Key Block": 1,
    }
    if SHARED_HUMANEVAL.exists():
        assert st["decontaminate"]["dropped"]["contaminated"] >= 1
    docs = list(iter_output(result.output))
    paths = {(d.meta["repo"], d.meta["path"]) for d in docs}
    # the near-duplicate fork lost to the original, which sits in the larger repository
    assert ("cycler", "cycler/cycler/__init__.py") in paths
    assert ("cycler-fork", "cycler/__init__.py") not in paths
    assert ("acme-webapp", "acme/vendor/six.py") not in paths and ("six", "six.py") in paths
    text = "\n".join(d.text for d in docs)
    for name, value in planted["secrets"].items():
        assert (value.splitlines()[1] if name == "private_key" else value) not in text, name
    assert all(d.annotations.get("quality_tier") for d in docs)
    report = Path(result.report_path).read_text()
    for heading in (
        "license_filter — licenses",
        "code_language — languages",
        "code_secrets — secrets_redacted",
        "non_permissive:GPL-2.0-only",
    ):
        assert heading in report


def test_packed_repositories_blend_into_shards_megatron_reads(code_run):
    idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    tmp, _, result = code_run
    packed = run_pipeline(
        _config(REPO_YAML, tmp, "runs/code-repo", [storage.join(result.data_dir, "*.parquet")]),
        engine=LocalEngine(workers=2),
    )
    repos = list(iter_output(packed.output))
    assert repos and all(d.source == "code-repo" and "<file_sep>" in d.text for d in repos)
    blend = yaml.safe_load(BLEND_YAML.read_text())
    blend["output"] = str(tmp / "mix")
    for name, source in blend["sources"].items():
        source["paths"] = [str(tmp / "runs" / ("code-repo" if name == "code_repos" else "code"))]
    manifest = load_mix_manifest(run_mix(validate_blend(blend)).output)
    sources = set()
    for shard, prefix in zip(manifest.shards(), manifest.prefixes(), strict=True):
        ds = idx_mod.IndexedDataset(prefix)
        assert len(ds) == shard.documents and ds.sequence_lengths.sum() == shard.tokens > 0
    for phase in manifest.phases:
        sources.update(k for k, v in phase.shares.items() if v > 0)
    assert sources == {"code_files", "code_files_high", "code_repos"}


def test_code_pipeline_is_identical_on_local_spark_and_ray(tmp_path, spark_engine, ray_engine):
    write_code_sample(str(tmp_path / "code"))
    # every snapshot shape, a license drop, the near-duplicate pair, the planted repository and a damaged tarball;
    # fewer repositories than the whole sample keep three engines' task start-up within budget
    repos = tmp_path / "code" / "repos"
    inputs = [
        str(repos / n)
        for n in (
            "acme-webapp",
            "six",
            "cycler.zip",
            "cycler-fork",
            "markupsafe.tar.gz",
            "annotated-types.git",
            "tld",
            "truncated.tar.gz",
        )
    ]
    results = {}
    for engine in (LocalEngine(workers=2), spark_engine, ray_engine):
        config = _config(CODE_YAML, tmp_path, f"runs/{engine.name}", inputs, engine.name, fuzzy_dedup={"partitions": 4})
        result = run_pipeline(config, engine=engine)
        per_task = {
            Path(p).name: sorted(
                (d.id, d.text, repr(sorted(d.meta.items())), repr(sorted(d.annotations.items())))
                for d in storage.read_documents(p)
            )
            for p in storage.expand([storage.join(result.data_dir, "*.parquet")])
        }
        ledger = [
            (
                s.name,
                s.docs_in,
                s.docs_out,
                s.bytes_in,
                s.bytes_out,
                dict(s.dropped),
                {k: v for k, v in s.extra.items() if not k.endswith("seconds")},
            )
            for s in result.stages
        ]
        results[engine.name] = (per_task, ledger)
    assert results["spark"] == results["local"]
    assert results["ray"] == results["local"]
    assert sum(len(v) for v in results["local"][0].values()) >= 10
