"""Fuzzy dedup: precision/recall against brute-force exact Jaccard, keep rules, stats, resume."""

from pathlib import Path

import numpy as np
import pytest
from dedup_eval import exact_removed, planted_corpus, precision_recall
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from corpusforge.core.document import Document
from corpusforge.core.markers import is_committed
from corpusforge.core.shuffle import item_unit, read_partition, write_partitioned
from corpusforge.pipelines.engines.base import Engine
from corpusforge.stages.dedup import fuzzy as dedup_fuzzy
from corpusforge.stages.dedup.components import LABEL_SCHEMA, local_components
from corpusforge.stages.dedup.fuzzy import FuzzyDedup
from corpusforge.stages.dedup.lsh import EDGE_SCHEMA, hash_partition

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
TARGETS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0] * 8


class SerialEngine(Engine):
    name = "serial"

    def map(self, fn, items, desc=""):
        return [fn(x) for x in items]


def run_dedup(docs: list[Document], workdir: str, shards: int = 3, **settings):
    """prepare per shard, resolve once, apply per shard (what the runner does); returns kept, stats, ledgers."""
    settings.setdefault("partitions", 4)  # few shuffle files: the tests' cost is mostly file creation
    n = len(docs)
    parts = [docs[i * n // shards : (i + 1) * n // shards] for i in range(shards)]
    tids = [f"{i:05d}" for i in range(shards)]
    for tid, part in zip(tids, parts):
        passed = list(FuzzyDedup(**settings).bind(workdir, tid).prepare(iter(part)))
        assert [d.id for d in passed] == [d.id for d in part]
    stats = FuzzyDedup(**settings).bind(workdir).resolve(SerialEngine(), tids)
    kept, ledgers = [], []
    for tid, part in zip(tids, parts):
        stage = FuzzyDedup(**settings).bind(workdir, tid)
        kept += list(stage.run(iter(part)))
        ledgers.append(stage.ledger)
    return kept, stats, ledgers


@pytest.fixture(scope="module")
def planted():
    texts, pairs = planted_corpus(DATA, "char", 24, TARGETS, n_base=300, seed=1)
    return texts, pairs


def test_precision_recall_against_brute_force_on_planted_set(planted, tmp_path):
    texts, pairs = planted
    docs = [Document(f"doc-{i}", t) for i, t in enumerate(texts)]
    kept, stats, ledgers = run_dedup(docs, str(tmp_path / "w"))
    removed = set(range(len(docs))) - {int(d.id.split("-")[1]) for d in kept}
    truth = exact_removed(texts, "char", 24, 0.8, rank=[-len(t.encode()) for t in texts])
    precision, recall = precision_recall(removed, truth)
    assert len(truth) >= 40
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, len(removed), len(truth))
    # planted pairs far above the threshold are always found, far below never
    for base, variant, j in pairs:
        if j >= 0.9:
            assert {base, variant} & removed, (base, variant, j)
        if j < 0.7:
            assert not ({base, variant} <= removed | {base} and variant in removed and base not in truth)
    # ledger balances and agrees with the run's stats
    assert all(led.balanced for led in ledgers)
    dropped = sum(led.dropped["fuzzy_duplicate"] for led in ledgers)
    assert dropped == stats["docs_removed"] == len(removed)
    assert sum(led.dropped_bytes["fuzzy_duplicate"] for led in ledgers) == stats["bytes_removed"]
    assert stats["clusters"] == sum(stats["cluster_size_histogram"].values())
    assert stats["false_positive_pairs"] > 0  # verification rejected LSH candidates below 0.8
    # annotations: every kept cluster member names its cluster, whose id is a kept document
    kept_ids = {d.id for d in kept}
    annotated = [d for d in kept if "cluster_id" in d.annotations]
    assert len(annotated) == stats["clusters"]
    assert all(d.annotations["cluster_id"] == d.id and d.annotations["cluster_size"] >= 2 for d in annotated)
    assert all(d.annotations["cluster_id"] in kept_ids for d in annotated)


def test_fineweb_preset_without_verification_removes_planted_duplicates(tmp_path):
    texts, pairs = planted_corpus(DATA, "word", 5, [0.5, 0.9, 0.95, 1.0] * 5, n_base=120, seed=2)
    docs = [Document(f"doc-{i}", t) for i, t in enumerate(texts)]
    kept, stats, _ = run_dedup(docs, str(tmp_path / "w"), preset="fineweb", verify=False)
    removed = set(range(len(docs))) - {int(d.id.split("-")[1]) for d in kept}
    truth = exact_removed(texts, "word", 5, 0.75, rank=[-len(t.encode()) for t in texts])
    precision, recall = precision_recall(removed, truth)
    assert precision >= 0.9 and recall >= 0.95, (precision, recall)
    assert "verified_pairs" not in stats and not (tmp_path / "w" / "texts").exists()


@pytest.mark.parametrize("keep", ["quality", "earliest"])
def test_keep_rule_picks_the_representative(keep, tmp_path):
    base = " ".join(f"word{i} is here in sentence {i}." for i in range(60))
    variants = [base, base + " tail one", base + " tail two!", "something else entirely " * 20]
    docs = []
    for i, t in enumerate(variants):
        d = Document(
            f"d{i}",
            t,
            meta={"warc_date": f"2024-0{4 - i}-01T00:00:00Z"} if i < 3 else {},
            annotations={"scores": {"quality": [0.2, 0.9, 0.5, 0.1][i]}},
        )
        docs.append(d)
    kept, stats, _ = run_dedup(docs, str(tmp_path / "w"), shards=2, keep=keep)
    winner = "d1" if keep == "quality" else "d2"
    assert sorted(d.id for d in kept) == sorted([winner, "d3"])
    assert stats["clusters"] == 1 and stats["cluster_size_histogram"] == {"3": 1}


def test_resume_after_a_killed_step_redoes_only_unfinished_work(planted, tmp_path, monkeypatch):
    texts, _ = planted
    docs = [Document(f"doc-{i}", t) for i, t in enumerate(texts[:200] + texts[-40:])]
    clean_kept, clean_stats, _ = run_dedup(docs, str(tmp_path / "clean"))

    calls = {"candidates": 0, "clusters": 0, "clusters_computed": 0}
    real_candidates, real_clusters = dedup_fuzzy.lsh.candidates_task, dedup_fuzzy.clusters_task

    def counting_candidates(task):
        calls["candidates"] += 1
        return real_candidates(task)

    def crashing_clusters(task):
        calls["clusters"] += 1
        if calls["clusters"] == 3:
            raise RuntimeError("worker killed")
        calls["clusters_computed"] += not is_committed(item_unit(task.out_dir, task.partition))
        return real_clusters(task)

    monkeypatch.setattr(dedup_fuzzy.lsh, "candidates_task", counting_candidates)
    monkeypatch.setattr(dedup_fuzzy, "clusters_task", crashing_clusters)
    work = str(tmp_path / "crash")
    with pytest.raises(RuntimeError, match="worker killed"):
        run_dedup(docs, work)
    assert calls["candidates"] == 4 and (tmp_path / "crash" / "components.done.json").exists()
    assert not (tmp_path / "crash" / "clusters.done.json").exists()

    # rerun: resolve again (prepare's outputs are kept by the runner), then apply
    tids = [f"{i:05d}" for i in range(3)]
    stats = FuzzyDedup(partitions=4).bind(work).resolve(SerialEngine(), tids)
    assert calls["candidates"] == 4  # finished steps are not redone
    assert calls["clusters_computed"] == 4  # each partition computed once: finished ones are skipped
    n = len(docs)
    kept = []
    for i, tid in enumerate(tids):
        kept += list(FuzzyDedup(partitions=4).bind(work, tid).run(iter(docs[i * n // 3 : (i + 1) * n // 3])))
    assert [d.id for d in kept] == [d.id for d in clean_kept]
    assert {k: v for k, v in stats.items() if k != "step_seconds"} == {
        k: v for k, v in clean_stats.items() if k != "step_seconds"
    }


def test_apply_refuses_documents_that_changed_since_prepare(tmp_path):
    docs = [Document(f"d{i}", f"text number {i} " * 20) for i in range(5)]
    FuzzyDedup().bind(str(tmp_path), "00000").prepare(iter(docs)).__iter__()
    list(FuzzyDedup().bind(str(tmp_path), "00000").prepare(iter(docs)))
    FuzzyDedup().bind(str(tmp_path)).resolve(SerialEngine(), ["00000"])
    with pytest.raises(RuntimeError, match="changed between steps"):
        list(FuzzyDedup().bind(str(tmp_path), "00000").run(iter(docs[::-1])))


@pytest.mark.parametrize("seed", [0, 1])
def test_local_components_label_every_node_with_its_component_minimum(seed, tmp_path):
    rng = np.random.default_rng(seed)
    n = 1000
    nodes = np.sort(rng.choice(1 << 40, size=n, replace=False)).astype(np.int64)
    # random sparse edges plus long chains (many rounds) and a big star
    a = rng.integers(0, n, 500)
    b = rng.integers(0, n, 500)
    chain = rng.permutation(n)[:120]
    a = np.concatenate([a, chain[:-1], np.full(50, 7)])
    b = np.concatenate([b, chain[1:], rng.integers(0, n, 50)])
    keep = a != b
    a, b = a[keep], b[keep]
    u, v = np.minimum(nodes[a], nodes[b]), np.maximum(nodes[a], nodes[b])
    edges = str(tmp_path / "edges")
    write_partitioned(
        edges, "w0", __import__("pyarrow").table({"u": u, "v": v}, schema=EDGE_SCHEMA), hash_partition(u, 2)
    )
    info = local_components(SerialEngine(), edges, 2, str(tmp_path / "cc"), str(tmp_path / "out"), 3)
    got = {}
    for t in range(int(nodes.max() >> 32) + 1):
        tab = read_partition(str(tmp_path / "out"), t, LABEL_SCHEMA)
        got.update(zip(tab.column("node").to_pylist(), tab.column("label").to_pylist()))
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    involved = np.unique(np.concatenate([a, b]))
    expected = {}
    for c in np.unique(comp[involved]):
        members = involved[comp[involved] == c]
        expected.update({int(nodes[m]): int(nodes[members].min()) for m in members})
    assert got == expected
    assert info["cc_rounds"] >= 3 and info["cc_nodes"] == len(expected)


def test_cluster_size_bins_cover_every_size_and_sort_by_size():
    sizes = [2, 3, 4, 5, 8, 9, 300, 1024, 1025, 50_000]
    labels = [dedup_fuzzy._size_bin(s) for s in sizes]
    assert labels == ["2", "3", "4", "5-8", "5-8", "9-16", "257-1024", "257-1024", "1025+", "1025+"]
    for s, label in zip(sizes, labels):
        assert dedup_fuzzy._bin_start(label) <= s
    ordered = sorted(set(labels), key=dedup_fuzzy._bin_start)
    assert ordered == ["2", "3", "4", "5-8", "9-16", "257-1024", "1025+"]
