"""The .bin/.idx writer produces megatron-core's exact bytes, and megatron-core reads them back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corpusforge.core.markers import committed
from corpusforge.mixtures.megatron_writer import TokenFile, write_indexed_dataset
from corpusforge.mixtures.tokenizer import token_dtype

idx_mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")


def _docs(vocab: int, n: int = 50, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=int(rng.integers(1, 300))) for _ in range(n)]


@pytest.mark.parametrize("vocab", [50000, 100000])
def test_bytes_match_megatron_builder_and_read_back(tmp_path, vocab):
    dtype = token_dtype(vocab)
    assert dtype == idx_mod.DType.optimal_dtype(vocab)
    docs = _docs(vocab)
    chunks = [(np.array([len(d) for d in docs[i : i + 7]]), np.concatenate(docs[i : i + 7])) for i in range(0, 50, 7)]
    ours = write_indexed_dataset(str(tmp_path / "ours"), chunks, dtype)

    builder = idx_mod.IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=dtype)
    for d in docs:
        builder.add_document(torch.tensor(d), [len(d)])
    builder.finalize(str(tmp_path / "ref.idx"))

    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "ref.bin").read_bytes()
    assert (tmp_path / "ours.idx").read_bytes() == (tmp_path / "ref.idx").read_bytes()
    ds = idx_mod.IndexedDataset(str(tmp_path / "ours"))
    assert len(ds) == len(docs) == ours.documents
    assert ds.index.dtype == dtype
    for i, d in enumerate(docs):
        assert ds[i].tolist() == d.tolist()
    tf = TokenFile(str(tmp_path / "ours"))
    assert [tf[i].tolist() for i in range(len(tf))] == [d.tolist() for d in docs]


def test_marker_written_last_and_out_of_range_tokens_rejected(tmp_path):
    prefix = str(tmp_path / "x")
    with pytest.raises(ValueError, match="range"):
        write_indexed_dataset(prefix, [(np.array([2]), np.array([1, 70000]))], np.uint16)
    assert committed(prefix) is None
    assert not (tmp_path / "x.idx").exists() and not (tmp_path / "x.bin").exists()
    written = write_indexed_dataset(prefix, [(np.array([2]), np.array([1, 2]))], np.uint16, marker={"k": 1})
    assert committed(prefix)["k"] == 1 and committed(prefix)["bin_sha256"] == written.bin_sha256
    # no temporary files are left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin", "x.done.json", "x.idx"]


def test_empty_cache_reads_as_no_documents(tmp_path):
    # A source file with no selected documents leaves an empty cache; megatron-core cannot mmap an
    # empty .bin, which is why the scheduler never emits an empty shard.
    write_indexed_dataset(str(tmp_path / "e"), [], np.uint16)
    assert len(TokenFile(str(tmp_path / "e"))) == 0
