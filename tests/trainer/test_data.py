"""The shard reader matches megatron-core, batches are a pure function of the step, and blends follow weights."""
import numpy as np
import pytest

from corpusforge.trainer.data import DataSource, TokenBlend, TokenStream


def test_stream_reads_what_megatron_wrote(corpus):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(corpus["clean"])
    stream = TokenStream([corpus["clean"], corpus["clean_part2"]])
    flat = np.concatenate([ds[i] for i in range(len(ds))])
    assert stream.tokens == len(flat) + sum(len(d) for d in corpus["clean_docs"][:200])
    assert np.array_equal(stream.read(0, 1000), flat[:1000])
    # a window across the shard boundary stitches the end of one shard to the start of the next
    across = stream.read(len(flat) - 5, 10)
    assert np.array_equal(across, np.concatenate([flat[-5:], corpus["clean_docs"][0][:5]]))


def test_batches_depend_only_on_seed_and_step(corpus):
    sources = [{"name": "clean", "prefix": corpus["clean"], "weight": 0.7},
               DataSource(name="noise", prefixes=[corpus["noise"]], weight=0.3)]
    a = TokenBlend([DataSource.model_validate(s) if isinstance(s, dict) else s for s in sources], seq_len=32)
    b = TokenBlend(a.sources, seq_len=32)
    x1, y1, p1 = a.batch(5, 16)
    a.batch(6, 16)
    x2, y2, p2 = b.batch(5, 16)
    assert (x1 == x2).all() and (y1 == y2).all() and (p1 == p2).all()
    assert (x1[:, 1:] == y1[:, :-1]).all()
    assert not (a.batch(7, 16)[0] == x1).all()


def test_blend_follows_weights_and_keeps_validation_out(corpus):
    blend = TokenBlend([DataSource(name="clean", prefixes=[corpus["clean"]], weight=3),
                        DataSource(name="noise", prefixes=[corpus["noise"]], weight=1)], seq_len=16,
                       val_fraction=0.05)
    picks = np.concatenate([blend.batch(s, 64)[2] for s in range(40)])
    assert abs((picks == 0).mean() - 0.75) < 0.04
    stream, start = blend.streams[0], blend.val_start[0]
    assert start in set(stream.doc_ends_all.tolist())  # the split falls on a document boundary
    assert stream.tokens - start >= 0.05 * stream.tokens
    val = blend.val_batches(0, batch_size=8, max_batches=2)
    assert len(val) == 2 and np.array_equal(val[0][0][0].numpy(), stream.read(start, 16))


def test_too_small_source_is_refused(shard_writer, tmp_path):
    tiny = shard_writer(tmp_path / "tiny", [[1, 2, 3, 4]])
    with pytest.raises(ValueError, match="too few"):
        TokenBlend([DataSource(name="tiny", prefixes=[tiny])], seq_len=16)
