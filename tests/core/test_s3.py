"""s3:// through s3fs against a real S3-API server (moto) on loopback: storage helpers and whole runs."""

import json

import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

pytestmark = pytest.mark.slow


def _docs(shard: int) -> list[Document]:
    return [
        Document(
            f"s{shard}-{i}",
            f"Page {i % 3} says hello, world." if i % 2 else f"unique {shard}/{i} text",
            meta={"url": f"https://example.org/{shard}/{i}"},
        )
        for i in range(12)
    ]


def test_storage_helpers_on_s3(s3_server):
    base = f"{s3_server}/helpers"
    with storage.atomic_write(f"{base}/a/b.txt") as f:
        f.write(b"committed")
    assert storage.read_text(f"{base}/a/b.txt") == "committed" and storage.exists(f"{base}/a/b.txt")
    assert storage.write_documents(f"{base}/docs/0.parquet", _docs(0)) == 12
    storage.write_documents(f"{base}/docs/1.parquet", _docs(1))
    assert storage.expand([f"{base}/docs/*.parquet"]) == [f"{base}/docs/0.parquet", f"{base}/docs/1.parquet"]
    assert storage.expand([f"{base}/a/b.txt", f"{base}/missing.txt"]) == [f"{base}/a/b.txt"]
    back = list(storage.read_documents(f"{base}/docs/1.parquet"))
    assert [(d.id, d.text, d.meta) for d in back] == [(d.id, d.text, d.meta) for d in _docs(1)]
    storage.remove(f"{base}/a", recursive=True)
    assert not storage.exists(f"{base}/a/b.txt")


def _begin_upload(fs, bucket: str, key: str) -> str:
    """A multipart upload with one part and no completion: what a writer killed mid-upload leaves."""
    upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
    fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * (5 << 20))
    return upload


def test_a_run_aborts_the_uploads_killed_writers_left_under_its_output(s3_server, tmp_path):
    fs, _ = storage.filesystem(s3_server)
    bucket = s3_server.removeprefix("s3://")
    _begin_upload(fs, bucket, "out/stage/part-0.parquet")
    _begin_upload(fs, bucket, "out/docs-1.parquet")
    neighbour = _begin_upload(fs, bucket, "out2/part-0.parquet")
    inputs = tmp_path / "in"
    inputs.mkdir()
    storage.write_documents(str(inputs / "0.parquet"), _docs(0))
    run_pipeline(validate_pipeline(_config(str(inputs / "*.parquet"), f"{s3_server}/out", "local")))
    left = fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
    # only the upload outside the run's output survives: another prefix may belong to a live writer
    assert [(u["Key"], u["UploadId"]) for u in left] == [("out2/part-0.parquet", neighbour)]
    run_pipeline(validate_pipeline(_config(str(inputs / "*.parquet"), str(tmp_path / "out"), "local")))
    assert _corpus(f"{s3_server}/out") == _corpus(str(tmp_path / "out"))


def _config(inputs: str, output: str, engine: str) -> dict:
    return {
        "name": "s3",
        "output": output,
        "engine": {"type": engine, "workers": 2, "shuffle_buckets": 3},
        "input": {"type": "parquet", "paths": [inputs]},
        "stages": [{"type": "exact_dedup", "buckets": 3}],
    }


def _corpus(output: str) -> list[tuple[str, str, dict]]:
    return sorted((d.id, d.text, tuple(sorted(d.meta.items()))) for d in iter_output(output))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, spark_engine):
    """The reference: the same pipeline over the same shards on the local filesystem."""
    root = tmp_path_factory.mktemp("s3ref")
    for s in range(3):
        storage.write_documents(str(root / "in" / f"{s}.parquet"), _docs(s))
    return run_pipeline(
        validate_pipeline(_config(str(root / "in" / "*.parquet"), str(root / "out"), "spark")), engine=spark_engine
    )


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_pipeline_reads_and_writes_s3_like_a_local_run(s3_server, local_run, engine, request):
    for s in range(3):
        storage.write_documents(f"{s3_server}/in/{s}.parquet", _docs(s))
    runner_engine = request.getfixturevalue("spark_engine") if engine == "spark" else LocalEngine(workers=2)
    remote = run_pipeline(
        validate_pipeline(_config(f"{s3_server}/in/*.parquet", f"{s3_server}/out", engine)), engine=runner_engine
    )
    assert remote.data_dir.startswith("s3://")
    expected = _corpus(local_run.output)
    assert len(expected) < 36 and _corpus(remote.output) == expected
    stats = json.loads(storage.read_text(f"{s3_server}/out/stats.json"))
    assert stats["balanced"]
    assert [s["dropped"] for s in stats["stages"]] == [s.to_dict()["dropped"] for s in local_run.stages]
    assert storage.exists(f"{s3_server}/out/manifest.json") and storage.exists(f"{s3_server}/out/report.html")
