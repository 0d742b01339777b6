"""Fuzzy dedup: our MinHash LSH against datatrove's four-stage MinHash dedup and datasketch, same input.

Input: 300-word documents of real article sentences (`<repo>/../shared/data`, the extraction
sets' reference texts) with a tenth of them planted again as near-duplicates (0-12 random word
edits of an earlier document, exact copies included), written as Parquet shards of
`--shard-docs` documents. Every tool runs on one core (one worker, tasks one after another).

  1. signing  CPU time per document on this process: ours (FineWeb's 5-word shingles x 112
              hashes, and the Nemotron-CC default) vs datasketch MinHash (112 permutations over
              the same 5-word shingles, shared permutations, update_batch) vs datatrove's
              MinhashDedupSignature (its default FineWeb configuration).
  2. quality  precision/recall of the removed set against brute-force exact Jaccard: the planted
              set of known Jaccard at the default (Nemotron-CC) threshold, and every tool on the
              comparison corpus at its own parameters.
  3. whole    docs/s and peak RSS of the whole dedup, each case in a fresh child process:
              ours through the pipeline runner (local engine, 1 worker), datatrove's
              Signature -> Buckets -> Cluster -> Filter via LocalPipelineExecutor (workers=1;
              tasks=1, except Buckets, which needs one task per bucket), datasketch MinHashLSH
              (query, then insert when no near-duplicate was found).
  4. scaling  ours at growing corpus sizes (fixed shard size, shuffle width growing with the
              corpus): time per document and peak RSS of the process running every task.

    .venv/bin/python benchmarks/dedup.py [--compare-docs 10000] [--sizes 10000,30000,100000,300000]
                                         [--shard-docs 10000] [--sign-docs 3000] [--skip-datatrove]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FINEWEB_PERMS, FINEWEB_BANDS, FINEWEB_ROWS, FINEWEB_NGRAM, FINEWEB_THRESHOLD = 112, 14, 8, 5, 0.75
DOCS_PER_PARTITION = 25_000  # shuffle width grows with the corpus: memory per reduce task stays flat


# ----------------------------------------------------------------------------- input


def sentences() -> list[str]:
    from dedup_eval import article_sentences, real_texts

    return article_sentences(real_texts(DATA))


def write_corpus(out_dir: Path, n: int, shard_docs: int, dup_fraction: float) -> None:
    """Parquet shards of `near_duplicate_corpus` documents 0..n-1 (ids doc-<index>)."""
    from dedup_eval import near_duplicate_corpus
    from tqdm import tqdm

    from corpusforge.core import storage
    from corpusforge.core.document import Document

    pool = sentences()
    out_dir.mkdir(parents=True, exist_ok=True)
    for s, start in enumerate(
        tqdm(range(0, n, shard_docs), desc=f"input {n:,} docs", leave=False, disable=n <= shard_docs)
    ):
        stop = min(n, start + shard_docs)
        texts = near_duplicate_corpus(pool, start, stop, dup_fraction)
        storage.write_documents(
            str(out_dir / f"{s:05d}.parquet"), [Document(f"doc-{start + i:08d}", t) for i, t in enumerate(texts)]
        )


def read_texts(in_dir: Path) -> list[str]:
    from corpusforge.core import storage

    return [d.text for p in sorted(in_dir.glob("*.parquet")) for d in storage.read_documents(str(p))]


def word_shingles(text: str) -> list[bytes]:
    """FineWeb's shingles with our word definition: 5 consecutive lower-cased words."""
    from corpusforge.stages.dedup.minhash import WORD_RE

    w = re.findall(WORD_RE, text.lower())
    n = FINEWEB_NGRAM
    return [" ".join(w[i : i + n]).encode() for i in range(max(1, len(w) - n + 1))]


def _patch_datatrove_xxhash() -> None:
    # xxhash >= 4 hashes bytes only; datatrove 0.10 passes str (xxhash 3 encoded it as UTF-8).
    import xxhash

    try:
        xxhash.xxh64_intdigest("a")
    except TypeError:
        import datatrove.utils.hashes.xxhash as dt_xxhash

        dt_xxhash.xxhash64 = lambda d: xxhash.xxh64_intdigest(d.encode() if isinstance(d, str) else d)
        dt_xxhash.xxhash32 = lambda d: xxhash.xxh32_intdigest(d.encode() if isinstance(d, str) else d)


# ----------------------------------------------------------------------------- 1. signing


def bench_signing(n_docs: int) -> list[tuple[str, float]]:
    """Documents per CPU-second of each signer on the same documents (shingling included)."""
    from dedup_eval import mixed_documents, real_texts

    from corpusforge.stages.dedup.fuzzy import FuzzyDedup

    docs = mixed_documents(real_texts(DATA), n_docs, seed=7)
    signers = []

    def timed(name: str, fn, docs_) -> None:
        fn(docs_[:50])  # warm-up: tables, caches, lazy imports
        signers.append((name, fn, docs_))

    from corpusforge.stages.dedup.minhash import signatures

    for preset in ("fineweb", "nemotron_cc"):
        params = FuzzyDedup(preset=preset).params.minhash

        def ours(batch, params=params, size=max(1, FuzzyDedup.Config().batch_chars // 2000)):
            for i in range(0, len(batch), size):  # the stage's batch: batch_chars of ~2,000-char documents
                signatures(batch[i : i + size], params)

        label = f"ours {params.shingle}-{params.ngram} x {params.num_perm}"
        timed(label + (" (FineWeb)" if preset == "fineweb" else " (Nemotron-CC)"), ours, docs)

    from datasketch import MinHash

    for scheme in ("affine32", "affine64"):
        perms = MinHash(num_perm=FINEWEB_PERMS, seed=1, scheme=scheme).permutations

        def sketch(batch, perms=perms, scheme=scheme):
            for text in batch:
                m = MinHash(num_perm=FINEWEB_PERMS, permutations=perms, scheme=scheme)
                m.update_batch(word_shingles(text))

        timed(f"datasketch word-5 x 112 ({scheme})", sketch, docs)

    _patch_datatrove_xxhash()
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    with tempfile.TemporaryDirectory() as tmp:
        step = MinhashDedupSignature(tmp, MinhashConfig())

        def datatrove(batch):
            for text in batch:
                step.get_signature(step.get_shingles(text))

        timed("datatrove MinhashDedupSignature (FineWeb)", datatrove, docs[: max(200, n_docs // 10)])
        # Best of three rounds, signers interleaved: load from other processes on a shared
        # machine slows a round, never speeds one up.
        best: dict[str, float] = {}
        for _ in range(3):
            for name, fn, docs_ in signers:
                t = time.process_time()
                fn(docs_)
                best[name] = max(best.get(name, 0.0), len(docs_) / (time.process_time() - t))
    return list(best.items())


# ----------------------------------------------------------------------------- 3. whole dedup (child)


def run_ours(in_dir: Path, work: Path, preset: str, verify: bool, partitions: int) -> tuple[list[str], dict]:
    from corpusforge.pipelines.engines.base import make_engine
    from corpusforge.pipelines.runner import run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline

    config = validate_pipeline(
        {
            "name": "bench-fuzzy",
            "output": str(work / "out"),
            "progress": False,
            "engine": {"type": "local", "workers": 1},
            "input": {"type": "parquet", "paths": [str(in_dir / "*.parquet")]},
            "stages": [{"type": "fuzzy_dedup", "preset": preset, "verify": verify, "partitions": partitions}],
        }
    )
    engine = make_engine("local", 1)
    try:
        result = run_pipeline(config, engine)
    finally:
        engine.close()
    stats = json.loads(Path(result.stats_path).read_text())
    extra = next(s for s in stats["stages"] if s["name"] == "fuzzy_dedup")
    ids = []
    import pyarrow.parquet as pq

    for p in sorted((work / "out" / "data").glob("*.parquet")):
        ids += pq.read_table(p, columns=["id"]).column("id").to_pylist()
    return ids, {k: extra.get("extra", {}).get(k) for k in ("clusters", "docs_removed", "candidate_pairs")}


def run_datatrove(in_dir: Path, work: Path) -> tuple[list[str], dict]:
    _patch_datatrove_xxhash()
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = MinhashConfig()  # FineWeb: 5-grams, 14 buckets x 8 hashes, 64-bit xxhash

    def reader():
        return ParquetReader(str(in_dir), glob_pattern="*.parquet", read_metadata=False)

    def execute(pipeline, tasks: int, name: str) -> None:
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(work / "logs" / name)).run()

    execute([reader(), MinhashDedupSignature(str(work / "sigs"), config=cfg)], 1, "signature")
    execute([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)], cfg.num_buckets, "buckets")
    execute([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)], 1, "cluster")
    execute(
        [reader(), MinhashDedupFilter(str(work / "remove")), JsonlWriter(str(work / "out"), compression=None)],
        1,
        "filter",
    )
    ids = []
    for p in sorted((work / "out").glob("*.jsonl")):
        ids += [json.loads(line)["id"] for line in p.read_text().splitlines()]
    return ids, {}


def run_datasketch(in_dir: Path, work: Path) -> tuple[list[str], dict]:
    from datasketch import MinHash, MinHashLSH

    from corpusforge.core import storage

    perms = MinHash(num_perm=FINEWEB_PERMS, seed=1).permutations
    index = MinHashLSH(num_perm=FINEWEB_PERMS, params=(FINEWEB_BANDS, FINEWEB_ROWS))
    kept = []
    for p in sorted(in_dir.glob("*.parquet")):
        for doc in storage.read_documents(str(p)):
            m = MinHash(num_perm=FINEWEB_PERMS, permutations=perms, scheme="affine32")
            m.update_batch(word_shingles(doc.text))
            if not index.query(m):
                index.insert(doc.id, m)
                kept.append(doc.id)
    return kept, {}


def child(args) -> None:
    """Run one case in this fresh process; write kept ids, times and peak RSS as JSON."""
    from loguru import logger

    logger.remove()  # datatrove logs every step at INFO
    in_dir, work = Path(args.input), Path(args.work)
    import corpusforge.pipelines.engines.local
    import corpusforge.pipelines.runner
    import corpusforge.stages.dedup.fuzzy  # noqa: F401

    base_rss = peak_rss_mb()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    if args.child.startswith("ours"):
        _, preset, verify = args.child.split(":")
        kept, extra = run_ours(in_dir, work, preset, verify == "verify", args.partitions)
    elif args.child == "datatrove":
        kept, extra = run_datatrove(in_dir, work)
    else:
        kept, extra = run_datasketch(in_dir, work)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(args.result).write_text(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu + kids.ru_utime + kids.ru_stime,
                "peak_mb": peak_rss_mb(),
                "base_mb": base_rss,
                "kept": kept,
                "extra": extra,
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). With one worker every task runs in this process;
    ru_maxrss would not do: Linux carries the parent's high-water mark across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: str, in_dir: Path, partitions: int = 4) -> dict:
    """One case in a child process (a clean peak RSS per case)."""
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            case,
            "--input",
            str(in_dir),
            "--work",
            str(Path(tmp) / "w"),
            "--result",
            str(result),
            "--partitions",
            str(partitions),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{case} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
        return json.loads(result.read_text())


# ----------------------------------------------------------------------------- report


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def planted_quality() -> tuple[float, float, int, int, str]:
    """Precision/recall of the default stage on the planted set of known Jaccard (runner, 1 worker),
    and the share of planted pairs found per band of exact Jaccard (LSH's S-curve)."""
    from dedup_eval import exact_removed, planted_corpus, precision_recall

    from corpusforge.core import storage
    from corpusforge.core.document import Document

    targets = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0] * 24  # the test's spread, 3x more
    texts, pairs = planted_corpus(DATA, "char", 24, targets, seed=11)
    with tempfile.TemporaryDirectory(prefix="bench-planted-") as tmp:
        in_dir = Path(tmp) / "in"
        in_dir.mkdir()
        for s in range(4):
            lo, hi = s * len(texts) // 4, (s + 1) * len(texts) // 4
            storage.write_documents(
                str(in_dir / f"{s}.parquet"), [Document(f"doc-{i:08d}", texts[i]) for i in range(lo, hi)]
            )
        kept, _ = run_ours(in_dir, Path(tmp) / "w", "nemotron_cc", True, 4)
    removed = set(range(len(texts))) - {int(k.split("-")[1]) for k in kept}
    truth = exact_removed(texts, "char", 24, 0.8, rank=[-len(t.encode()) for t in texts])
    p, r = precision_recall(removed, truth)
    bands = [(0.0, 0.7), (0.7, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 1.01)]
    found = []
    for lo, hi in bands:
        inside = [(b, v) for b, v, j in pairs if lo <= j < hi]
        hit = sum(1 for b, v in inside if {b, v} & removed)
        found.append(f"J {lo:.2f}-{min(hi, 1):.2f}: {hit}/{len(inside)}")
    return p, r, len(truth), len(texts), ", ".join(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare-docs", type=int, default=10_000, help="corpus of the head-to-head runs")
    ap.add_argument("--sizes", default="10000,30000,100000,300000", help="scaling curve corpus sizes")
    ap.add_argument("--shard-docs", type=int, default=10_000, help="documents per input shard (one task each)")
    ap.add_argument("--dup-fraction", type=float, default=0.1)
    ap.add_argument("--sign-docs", type=int, default=3000)
    ap.add_argument("--skip-datatrove", action="store_true", help="datatrove's signing is slow (~140 docs/s)")
    ap.add_argument("--skip-quality", action="store_true", help="skip the brute-force exact Jaccard checks")
    for name in ("--child", "--input", "--work", "--result"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    ap.add_argument("--partitions", type=int, default=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from loguru import logger

    logger.remove()
    os.environ["CORPUSFORGE_PROGRESS"] = "0"  # the runner's task bars would interleave with the tables
    print(
        f"corpusforge fuzzy dedup benchmark: 300-word real-article documents, {os.cpu_count()} cores here, "
        "every tool on one worker\n"
    )

    rows = bench_signing(args.sign_docs)
    rate = dict(rows)
    ours_fw = rate["ours word-5 x 112 (FineWeb)"]
    print(
        f"1. signing ({args.sign_docs} documents; datatrove {max(200, args.sign_docs // 10)}), CPU time, "
        "shingling included, best of 3 rounds"
    )
    print(
        table(["signer", "docs/cpu-s", "ours FineWeb / it"], [[n, f"{r:,.0f}", f"{ours_fw / r:.1f}x"] for n, r in rows])
    )
    print()

    if not args.skip_quality:
        p, r, n_truth, n_docs, found = planted_quality()
        print(
            f"2a. planted set ({n_docs} documents, {n_truth} exact duplicates at Jaccard >= 0.8, char-24): "
            f"default stage precision {p:.3f} recall {r:.3f}"
        )
        print(f"    planted pairs with a member removed, by exact Jaccard: {found}\n")

    with tempfile.TemporaryDirectory(prefix="bench-dedup-input-") as tmp:
        in_dir = Path(tmp) / "compare"
        n = args.compare_docs
        write_corpus(in_dir, n, args.shard_docs, args.dup_fraction)
        mb = sum(p.stat().st_size for p in in_dir.glob("*.parquet")) / 1e6
        cases = [
            ("ours fineweb (no verify)", "ours:fineweb:noverify"),
            ("ours fineweb + exact verify", "ours:fineweb:verify"),
            ("ours nemotron_cc default", "ours:nemotron_cc:verify"),
            ("datasketch MinHashLSH", "datasketch"),
        ]
        if not args.skip_datatrove:
            cases.append(("datatrove 4-stage MinHash", "datatrove"))
        parts = max(4, math.ceil(n / DOCS_PER_PARTITION))
        results = {label: run_case(case, in_dir, parts) for label, case in cases}
        truths = {}
        if not args.skip_quality:
            from dedup_eval import exact_removed, precision_recall

            texts = read_texts(in_dir)
            by_len = [-len(t.encode()) for t in texts]
            truths = {
                ("word", "longest"): exact_removed(texts, "word", 5, FINEWEB_THRESHOLD, by_len),
                ("word", "first"): exact_removed(texts, "word", 5, FINEWEB_THRESHOLD),
                ("char", "longest"): exact_removed(texts, "char", 24, 0.8, by_len),
            }
        out = []
        for label, res in results.items():
            kept = {int(k.split("-")[1]) for k in res["kept"]}
            removed = set(range(n)) - kept
            key = ("char" if "nemotron" in label else "word", "longest" if label.startswith("ours") else "first")
            pr = "-"
            if key in truths:
                p, r = precision_recall(removed, truths[key])
                pr = f"{p:.3f} / {r:.3f}"
            out.append(
                [
                    label,
                    len(removed),
                    f"{res['wall']:.1f}",
                    f"{n / res['wall']:,.0f}",
                    f"{n / res['cpu']:,.0f}",
                    f"{res['peak_mb']:.0f}",
                    pr,
                ]
            )
        print(
            f"2b/3. whole dedup, {n:,} documents ({mb:.0f} MB Parquet, {args.shard_docs:,} per shard), "
            f"{sum(1 for _ in in_dir.glob('*.parquet'))} shards; precision/recall against brute-force exact "
            "Jaccard at each tool's parameters and keep rule"
        )
        print(table(["tool", "removed", "wall s", "docs/s", "docs/cpu-s", "peak RSS MB", "precision / recall"], out))
        ours = results["ours fineweb (no verify)"]
        for peer in ("datatrove 4-stage MinHash", "datasketch MinHashLSH"):
            if peer in results:
                print(
                    f"   ours fineweb (no verify) / {peer}: {results[peer]['wall'] / ours['wall']:.1f}x docs/s, "
                    f"{results[peer]['cpu'] / ours['cpu']:.1f}x docs/cpu-s, "
                    f"{ours['peak_mb'] / results[peer]['peak_mb']:.2f}x peak RSS"
                )
        print()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-dedup-scale-") as tmp:
            in_dir = Path(tmp) / "in"
            write_corpus(in_dir, n, args.shard_docs, args.dup_fraction)
            parts = max(4, math.ceil(n / DOCS_PER_PARTITION))
            res = run_case("ours:fineweb:noverify", in_dir, parts)
            shards = sum(1 for _ in in_dir.glob("*.parquet"))
        out.append(
            [
                f"{n:,}",
                shards,
                parts,
                n - len(res["kept"]),
                f"{res['wall']:.1f}",
                f"{1e6 * res['wall'] / n:.0f}",
                f"{1e6 * res['cpu'] / n:.0f}",
                f"{res['peak_mb']:.0f}",
            ]
        )
        print(f"   scaling {n:,} docs: {res['wall']:.1f} s, peak RSS {res['peak_mb']:.0f} MB", flush=True)
    print(
        f"4. scaling, ours fineweb (no verify), local engine 1 worker; peak RSS of the one process running "
        f"every task (Python + libraries alone: {res['base_mb']:.0f} MB)"
    )
    print(table(["docs", "tasks", "partitions", "removed", "wall s", "us/doc", "cpu us/doc", "peak RSS MB"], out))


if __name__ == "__main__":
    main()
