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
    sources = [
        {"name": "clean", "prefix": corpus["clean"], "weight": 0.7},
        DataSource(name="noise", prefixes=[corpus["noise"]], weight=0.3),
    ]
    a = TokenBlend([DataSource.model_validate(s) if isinstance(s, dict) else s for s in sources], seq_len=32)
    b = TokenBlend(a.sources, seq_len=32)
    x1, y1, p1 = a.batch(5, 16)
    a.batch(6, 16)
    x2, y2, p2 = b.batch(5, 16)
    assert (x1 == x2).all() and (y1 == y2).all() and (p1 == p2).all()
    assert (x1[:, 1:] == y1[:, :-1]).all()
    assert not (a.batch(7, 16)[0] == x1).all()


def test_blend_follows_weights_and_keeps_validation_out(corpus):
    blend = TokenBlend(
        [
            DataSource(name="clean", prefixes=[corpus["clean"]], weight=3),
            DataSource(name="noise", prefixes=[corpus["noise"]], weight=1),
        ],
        seq_len=16,
        val_fraction=0.05,
    )
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


def test_runs_that_differ_in_weights_share_their_windows(corpus):
    def clean_windows(weight):
        blend = TokenBlend(
            [
                DataSource(name="clean", prefixes=[corpus["clean"]], weight=weight),
                DataSource(name="noise", prefixes=[corpus["noise"]], weight=1 - weight),
            ],
            seq_len=16,
        )
        rows = set()
        for step in range(30):
            x, _, picks = blend.batch(step, 8)
            rows |= {tuple(r) for r in x[picks == 0].tolist()}
        return blend, rows

    low, few = clean_windows(0.3)
    high, many = clean_windows(0.6)
    assert few < many  # more clean weight: a strict superset of the same clean windows, so ablations compare mixtures
    # low-discrepancy assignment: the realised share is within a few samples of the weight, not ~1/sqrt(n) off
    picks = high.assign(np.arange(1000))
    assert abs((picks == 0).mean() - 0.6) < 0.005


def test_curriculum_phase_takes_every_row_from_one_source(corpus):
    from corpusforge.trainer.train import TrainConfig, phase_at

    blend = TokenBlend(
        [
            DataSource(name="phase1", prefixes=[corpus["clean"]], weight=3),
            DataSource(name="phase2", prefixes=[corpus["noise"]], weight=1),
        ],
        seq_len=16,
    )
    cfg = TrainConfig(sources=[{"name": "a", "prefix": "x"}], max_steps=100)
    assert phase_at(blend, 0, cfg) is None  # blended unless the trainer set phases
    blend.phase_ends = np.cumsum(blend.weights)
    assert [phase_at(blend, s, cfg) for s in (0, 74, 75, 99)] == [0, 0, 1, 1]
    assert (blend.batch(80, 8, only=1)[2] == 1).all()
