"""The shared file shuffle and the one completion-marker idiom every global step and the export use."""

import numpy as np
import pyarrow as pa
import pytest

from corpusforge.core import markers, shuffle
from corpusforge.core.config import EngineConfig
from corpusforge.stages.dedup.exact import ExactDedup

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string())])


class SerialEngine:
    def __init__(self):
        self.calls = 0

    def map(self, fn, items, desc=""):
        self.calls += 1
        return [fn(x) for x in items]


def test_one_default_shuffle_width_for_the_engine_and_exact_dedup():
    assert EngineConfig().shuffle_buckets == shuffle.DEFAULT_BUCKETS
    assert ExactDedup().buckets == shuffle.DEFAULT_BUCKETS


def test_partition_writer_streams_batches_and_commits_on_close(tmp_path):
    base = str(tmp_path / "s")
    with shuffle.PartitionWriter(base, "w0", SCHEMA) as w:
        w.write(pa.table({"k": [1, 2, 3], "v": list("abc")}, schema=SCHEMA), np.array([0, 1, 0]))
        w.write(pa.table({"k": [4], "v": ["d"]}, schema=SCHEMA), np.array([0]))
        assert not list(tmp_path.rglob("*.parquet"))  # nothing visible before the commit
    shuffle.write_partitioned(base, "w1", pa.table({"k": [5, 6], "v": ["e", "f"]}, schema=SCHEMA), np.array([1, 2]))
    assert shuffle.read_partition(base, 0, SCHEMA).column("k").to_pylist() == [1, 3, 4]
    assert [w for w, _ in shuffle.partition_files(base, 1)] == ["w0", "w1"]
    assert shuffle.read_partition(base, 1, SCHEMA).column("v").to_pylist() == ["b", "e"]
    assert shuffle.read_partition(base, 7, SCHEMA).num_rows == 0


def test_a_failed_map_task_leaves_no_file_and_no_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="killed"), shuffle.PartitionWriter(str(tmp_path / "s"), "w0", SCHEMA) as w:
        w.write(pa.table({"k": [1, 2], "v": ["a", "b"]}, schema=SCHEMA), np.array([0, 1]))
        raise RuntimeError("killed")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_step_commits_once_and_a_rerun_returns_its_payload(tmp_path):
    out = str(tmp_path / "step")
    done = []

    def reduce(k: int) -> dict:
        def work() -> dict:
            done.append(k)
            if k == 2 and len(done) == 3:
                raise RuntimeError("worker killed")
            return {"k": k}

        return shuffle.reduce_once(out, k, work)

    engine = SerialEngine()
    with pytest.raises(RuntimeError):
        shuffle.run_step(engine, out, reduce, [0, 1, 2, 3], "t")
    assert not markers.is_committed(out) and markers.committed(shuffle.item_unit(out, 1)) == {"k": 1}
    assert shuffle.run_step(engine, out, reduce, [0, 1, 2, 3], "t") == [{"k": k} for k in range(4)]
    assert done == [0, 1, 2, 2, 3]  # finished reduce tasks were skipped on the rerun
    assert (tmp_path / "step.done.json").exists()
    calls = engine.calls
    assert shuffle.run_step(engine, out, reduce, [0, 1, 2, 3], "t") == [{"k": k} for k in range(4)]
    assert engine.calls == calls  # a committed step does not run again
