"""End to end: blended shards that megatron-core reads token for token, shares, determinism, epoch caps, resume."""

from __future__ import annotations

import collections
import copy
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpusforge.mixtures import export
from corpusforge.mixtures.export import run_mix
from corpusforge.mixtures.manifest import load_mix_manifest
from corpusforge.mixtures.spec import validate_blend
from corpusforge.mixtures.tokenizer import load_tokenizer

idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")


@pytest.fixture(scope="session")
def base_blend(corpus, tokenizer_json, make_blend, tmp_path_factory):
    return make_blend(corpus, tmp_path_factory.mktemp("mix") / "out", tokenizer_json)


@pytest.fixture(scope="session")
def baseline(base_blend):
    """One uninterrupted export that several tests inspect."""
    return run_mix(validate_blend(base_blend))


def _expected_sequences(corpus: Path, manifest) -> dict[tuple, str]:
    """Every document's tokens + EOD, mapped to the blend source whose selector takes it."""
    tok = load_tokenizer(manifest.tokenizer_path())
    out = {}
    for path in sorted((corpus / "data").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            ann = row["annotations"] or {}
            if ann.get("contamination"):
                continue
            name = "math" if row["source"] == "math" else f"web_{ann['quality_tier']}"
            ids = tok.encode(row["text"], add_special_tokens=False).ids + [manifest.tokenizer.eod_id]
            out[tuple(ids)] = name
    return out


def _shard_bytes(manifest) -> list[bytes]:
    return [Path(p + ext).read_bytes() for p in manifest.prefixes() for ext in (".bin", ".idx")]


def test_megatron_reads_every_shard_token_for_token(baseline, corpus):
    manifest = load_mix_manifest(baseline.output)
    expected = _expected_sequences(corpus, manifest)
    assert manifest.tokenizer.dtype == "uint16"
    total = 0
    for shard, prefix in zip(manifest.shards(), manifest.prefixes()):
        ds = idx_mod.IndexedDataset(prefix)
        assert len(ds) == shard.documents and ds.sequence_lengths.sum() == shard.tokens
        tokens, docs = collections.Counter(), collections.Counter()
        for i in range(len(ds)):
            seq = tuple(ds[i].tolist())
            assert seq in expected, f"{prefix}[{i}] is not the tokenization of any selected document"
            tokens[expected[seq]] += len(seq)
            docs[expected[seq]] += 1
        assert dict(tokens) == {k: v for k, v in shard.tokens_by_source.items() if v}
        assert dict(docs) == {k: v for k, v in shard.documents_by_source.items() if v}
        total += shard.tokens
    assert total == manifest.tokens


def test_manifest_matches_spec_and_files(baseline, base_blend):
    import hashlib

    manifest = load_mix_manifest(baseline.output)
    assert [p.name for p in manifest.phases] == ["phase1", "phase2"]
    for phase, spec_phase in zip(manifest.phases, base_blend["phases"]):
        for name, weight in spec_phase["weights"].items():
            assert phase.weights[name] == pytest.approx(weight)
            assert abs(phase.shares[name] - weight) <= 0.005, (phase.name, name, phase.shares[name])
        assert abs(phase.tokens - phase.planned_tokens) <= 0.02 * phase.planned_tokens
        assert phase.tokens == sum(s.tokens for s in phase.shards) == sum(phase.tokens_by_source.values())
        assert len(phase.shards) >= 2
        # interleaved: every full shard carries every source of the phase
        for shard in phase.shards[:-1]:
            assert all(shard.documents_by_source[n] > 0 for n in spec_phase["weights"]), shard.prefix
            assert shard.tokens >= base_blend["shard_tokens"]
    for shard, prefix in zip(manifest.shards(), manifest.prefixes()):
        assert hashlib.sha256(Path(prefix + ".bin").read_bytes()).hexdigest() == shard.bin_sha256
        assert Path(prefix + ".idx").stat().st_size == shard.idx_bytes
    for src in manifest.sources:
        assert src.used_tokens == sum(p.tokens_by_source[src.name] for p in manifest.phases)
        assert 0 < src.epochs <= src.max_epochs
    # the contaminated document is excluded by the default selector
    assert next(s for s in manifest.sources if s.name == "web_high").documents == 37
    report = Path(baseline.report_path).read_text()
    assert "<svg" in report and "Planned against realised mixture" in report and "web_low" in report


def test_same_seed_same_bytes_other_seed_other_order(baseline, base_blend, tmp_path):
    again = copy.deepcopy(base_blend)
    again["output"] = str(tmp_path / "again")
    again["engine"] = {"type": "local", "workers": 2}  # parallel tasks must not change a byte
    rerun = run_mix(validate_blend(again))
    assert _shard_bytes(rerun.manifest) == _shard_bytes(load_mix_manifest(baseline.output))
    other = copy.deepcopy(base_blend)
    other["output"], other["seed"] = str(tmp_path / "other"), 8
    other["work_dir"] = str(Path(baseline.output) / "_work")  # token caches are seed-independent: reuse them
    assert _shard_bytes(run_mix(validate_blend(other)).manifest) != _shard_bytes(rerun.manifest)


def test_epoch_cap_repeats_a_small_source_but_never_past_its_cap(baseline, base_blend, tmp_path):
    math_tokens = next(s.tokens for s in baseline.manifest.sources if s.name == "math")
    data = copy.deepcopy(base_blend)
    data["output"] = str(tmp_path / "epochs")
    data["token_budget"] = int(math_tokens * 1.9 / 0.5)  # math at weight 0.5 needs 1.9 epochs
    data["sources"]["math"]["max_epochs"] = 2
    for p in data["phases"]:
        p["weights"] = {"web_high": 0.25, "web_low": 0.25, "math": 0.5}
    manifest = run_mix(validate_blend(data)).manifest
    math = next(s for s in manifest.sources if s.name == "math")
    assert 1.85 <= math.epochs <= 2.0
    assert math.used_documents > math.documents  # repeated documents
    seen = collections.Counter()
    for prefix in manifest.prefixes():
        ds = idx_mod.IndexedDataset(prefix)
        seen.update(tuple(ds[i].tolist()) for i in range(len(ds)))
    assert max(seen.values()) <= 2  # no document more often than the cap allows
    for phase in manifest.phases:
        assert abs(phase.shares["math"] - 0.5) <= 0.005
    data["sources"]["math"]["max_epochs"] = 1.5
    data["output"] = str(tmp_path / "capped")
    with pytest.raises(Exception, match=r"sources.math: .*max_epochs 1.5 allows at most"):
        run_mix(validate_blend(data))


def test_killed_export_resumes_to_the_same_bytes(baseline, base_blend, tmp_path, monkeypatch):
    data = copy.deepcopy(base_blend)
    data["output"] = str(tmp_path / "resumed")
    real = export.write_shard
    calls = []

    def dies_after_first_shard(task):
        calls.append(task.prefix)
        if len(calls) > 1:
            raise KeyboardInterrupt("killed")  # what a kill between shards looks like to the export
        return real(task)

    monkeypatch.setattr(export, "write_shard", dies_after_first_shard)
    with pytest.raises(BaseException):
        run_mix(validate_blend(data))
    out = tmp_path / "resumed"
    first = out / "phase1" / "shard_00000.bin"
    assert first.exists() and not (out / "mix_manifest.json").exists()
    assert not (out / "phase1" / "shard_00001.done.json").exists()
    stamp = first.stat().st_mtime_ns

    monkeypatch.setattr(export, "write_shard", real)
    resumed = run_mix(validate_blend(data))
    assert first.stat().st_mtime_ns == stamp  # the committed shard was not rewritten
    assert _shard_bytes(resumed.manifest) == _shard_bytes(load_mix_manifest(baseline.output))
    # a finished export reruns as a no-op
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("shard_*")}
    run_mix(validate_blend(data))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("shard_*")} == stamps
    # a changed spec rewrites the output and leaves no stale shards of the old one behind
    data["shard_tokens"] = 30000
    fewer = run_mix(validate_blend(data)).manifest
    on_disk = sorted(str(p)[:-4] for p in out.rglob("shard_*.bin"))
    assert on_disk == sorted(fewer.prefixes()) and len(on_disk) < len(stamps) // 3


@pytest.mark.slow
@pytest.mark.parametrize("engine_fixture", ["spark_engine", "ray_engine"])
def test_every_engine_writes_the_same_shards(baseline, base_blend, tmp_path, request, engine_fixture):
    engine = request.getfixturevalue(engine_fixture)  # shared session engines (tests/conftest.py)
    data = copy.deepcopy(base_blend)
    data["output"] = str(tmp_path / engine_fixture)
    result = run_mix(validate_blend(data), engine=engine)
    assert _shard_bytes(result.manifest) == _shard_bytes(load_mix_manifest(baseline.output))


def test_export_removes_temporaries_a_killed_export_left(corpus, tokenizer_json, make_blend, tmp_path):
    spec = validate_blend(make_blend(corpus, tmp_path / "mix", tokenizer_json))
    run_mix(spec)
    # what kill -9 leaves mid-write: partial token caches and a shard under their temporary names
    caches = sorted((tmp_path / "mix" / "_work" / "tokens").rglob("*.bin"))
    for path in (caches[0], tmp_path / "mix" / "phase1" / "shard_00000.bin"):
        Path(f"{path}.tmp-0badc0de").write_bytes(path.read_bytes()[:100])
    run_mix(spec)
    assert [p for p in (tmp_path / "mix").rglob("*") if ".tmp-" in p.name] == []
