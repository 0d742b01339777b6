"""Writing an export straight to s3:// against a real S3-API server (moto) on loopback."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from corpusforge.core import storage
from corpusforge.mixtures.export import run_mix
from corpusforge.mixtures.manifest import load_mix_manifest
from corpusforge.mixtures.spec import validate_blend

pytestmark = pytest.mark.slow
idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")


@pytest.fixture
def s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("CORPUSFORGE_S3_ENDPOINT", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs, _ = storage.filesystem("s3://mix-bucket/x")
    fs.mkdir("mix-bucket")
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def test_export_to_s3_reads_back_in_megatron(s3, corpus, tokenizer_json, make_blend, tmp_path):
    local = make_blend(corpus, tmp_path / "local", tokenizer_json)
    remote = copy.deepcopy(local)
    remote["output"] = "s3://mix-bucket/mixes/test"
    result = run_mix(validate_blend(remote))

    manifest = load_mix_manifest("s3://mix-bucket/mixes/test")
    assert manifest.prefixes()[0] == "s3://mix-bucket/mixes/test/phase1/shard_00000"
    assert storage.exists("s3://mix-bucket/mixes/test/report.html")
    assert result.manifest.tokens == manifest.tokens
    reference = run_mix(validate_blend(local)).manifest
    assert [s.bin_sha256 for s in manifest.shards()] == [s.bin_sha256 for s in reference.shards()]
    for prefix in manifest.prefixes():
        copy_prefix = str(tmp_path / "down" / prefix.rsplit("/", 2)[-2] / prefix.rsplit("/", 1)[-1])
        Path(copy_prefix).parent.mkdir(parents=True, exist_ok=True)
        for ext in (".bin", ".idx"):
            Path(copy_prefix + ext).write_bytes(storage.read_bytes(prefix + ext))
        ds = idx_mod.IndexedDataset(copy_prefix)
        local_ds = idx_mod.IndexedDataset(prefix.replace("s3://mix-bucket/mixes/test", str(tmp_path / "local")))
        assert len(ds) == len(local_ds)
        assert all((ds[i] == local_ds[i]).all() for i in range(len(ds)))

    # a rerun against the bucket resumes as a no-op: every shard's marker is found
    before = {p: s3.info(p)["LastModified"] for p in s3.find("mix-bucket/mixes/test") if ".bin" in p}
    run_mix(validate_blend(remote))
    s3.invalidate_cache()
    after = {p: s3.info(p)["LastModified"] for p in s3.find("mix-bucket/mixes/test") if ".bin" in p}
    assert before == after
