"""Writing an export straight to s3:// against a real S3-API server (moto) on loopback."""

from __future__ import annotations

import copy
import os

import pytest

from corpusforge.core import storage
from corpusforge.mixtures.export import run_mix
from corpusforge.mixtures.manifest import load_mix_manifest
from corpusforge.mixtures.spec import validate_blend

pytestmark = pytest.mark.slow
idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")


def test_export_to_s3_reads_back_in_megatron(s3_server, corpus, tokenizer_json, make_blend, tmp_path, monkeypatch):
    """`s3_server` (tests/conftest.py): a fresh bucket on a moto S3-API server on loopback."""
    local = make_blend(corpus, tmp_path / "local", tokenizer_json)
    remote = copy.deepcopy(local)
    out = f"{s3_server}/mixes/test"
    remote["output"] = out
    result = run_mix(validate_blend(remote))

    manifest = load_mix_manifest(out)
    assert manifest.prefixes()[0] == f"{out}/phase1/shard_00000"
    assert storage.exists(f"{out}/report.html") and storage.exists(f"{out}/_work/tokens")
    assert result.manifest.tokens == manifest.tokens
    reference = run_mix(validate_blend(local)).manifest
    assert [s.bin_sha256 for s in manifest.shards()] == [s.bin_sha256 for s in reference.shards()]
    # megatron-core reads the shards straight from the bucket (boto3, endpoint from AWS_ENDPOINT_URL)
    monkeypatch.setenv("AWS_ENDPOINT_URL", os.environ["CORPUSFORGE_S3_ENDPOINT"])
    config = idx_mod.ObjectStorageConfig(path_to_idx_cache=str(tmp_path / "idx-cache"))
    for prefix in manifest.prefixes():
        ds = idx_mod.IndexedDataset(prefix, mmap=False, object_storage_config=config)
        local_ds = idx_mod.IndexedDataset(prefix.replace(out, str(tmp_path / "local")))
        assert len(ds) == len(local_ds) > 0
        assert all((ds[i] == local_ds[i]).all() for i in range(len(ds)))

    # a rerun against the bucket resumes as a no-op: every shard's marker is found
    fs, root = storage.filesystem(out)

    def stamps() -> dict:
        fs.invalidate_cache()
        return {p: fs.info(p)["LastModified"] for p in fs.find(root) if p.endswith(".bin")}

    before = stamps()
    assert len(before) == len(manifest.shards()) + 8  # shards and the 8 token caches (3 sources x files)
    run_mix(validate_blend(remote))
    assert stamps() == before
