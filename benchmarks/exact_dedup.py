"""Global exact dedup: our ExactDedup against datatrove's three exact-dedup steps, same input.

Input: GSM8K train problems (real text, `<repo>/../shared/data`), combined in pairs to get
distinct documents, with a quarter of them planted again across shards (half byte for byte,
half re-cased and re-punctuated). Both sides normalise with FineWeb's rules (our
`normalize_text`, which datatrove's `simplify_text` does after NFKC) and run in this process,
one core, task after task, with the same shard and bucket counts, so the figures compare the
algorithms and their file formats, not the executors:

  ours       prepare (hash -> bucket Parquet) -> resolve (per bucket) -> apply (drop list)
  datatrove  ExactDedupSignature -> ExactFindDedups (per finder worker) -> ExactDedupFilter

A third run gives datatrove its own `simplify_text` (after NFKC: the same output, so the same
documents dropped), as its users write the content getter: our normaliser is ~3x faster on ASCII
and ~5x on other text, so that ratio is the one a user sees end to end.

Speed is CPU time (other load on a shared machine does not inflate it); wall-clock beside it.

    .venv/bin/python benchmarks/exact_dedup.py [--docs 100000] [--shards 4] [--buckets 4] [--no-normalize]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import unicodedata
from functools import partial
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from datatrove.pipeline.dedup.exact_dedup import (
    ExactDedupConfig,
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
)
from datatrove.utils.text import simplify_text
from loguru import logger

from corpusforge.core.document import Document
from corpusforge.pipelines.engines.base import Engine
from corpusforge.stages.dedup.exact import ExactDedup, normalize_text

GSM8K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "benchmarks" / "gsm8k" / "train.jsonl"


class InProcessEngine(Engine):
    """Engine.map serially in this process: the same single-core conditions datatrove gets here."""

    name = "in-process"

    def map(self, fn, items, desc="tasks"):
        return [fn(x) for x in items]


def make_shards(n_docs: int, n_shards: int, normalize: bool, seed: int = 0) -> tuple[list[list[Document]], int]:
    rng = random.Random(seed)
    rows = [json.loads(x) for x in GSM8K.read_text().splitlines()]
    texts = [r["question"] + "\n\n" + r["answer"] for r in rows]
    n_unique = int(n_docs * 0.75)
    n = len(texts)
    # (a, b) pairs are distinct for i < n*n, so the unplanted documents are distinct texts.
    docs = [Document(f"u{i:07d}", texts[i % n] + "\n\n" + texts[(i // n + i % n + 1) % n]) for i in range(n_unique)]
    planted = []
    for j in range(n_docs - n_unique):
        src = docs[rng.randrange(n_unique)]
        text = src.text if j % 2 else src.text.upper().replace(".", " . ")
        planted.append(Document(f"c{j:07d}", text))
    everything = docs + planted
    rng.shuffle(everything)
    shards = [everything[s::n_shards] for s in range(n_shards)]
    expected = n_docs - len({normalize_text(d.text) if normalize else d.text for d in everything})
    return shards, expected


def run_ours(shards, workdir: str, buckets: int, normalize: bool) -> tuple[int, float, float]:
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    ids = [f"{i:05d}" for i in range(len(shards))]
    for tid, docs in zip(ids, shards):
        for _ in ExactDedup(buckets=buckets, normalize=normalize).bind(workdir, tid).prepare(docs):
            pass
    ExactDedup(buckets=buckets, normalize=normalize).bind(workdir).resolve(InProcessEngine(), ids)
    dropped = 0
    for tid, docs in zip(ids, shards):
        stage = ExactDedup(buckets=buckets, normalize=normalize).bind(workdir, tid)
        for _ in stage.run(docs):
            pass
        dropped += stage.ledger.docs_dropped
    return dropped, time.process_time() - t_cpu, time.perf_counter() - t_wall


# bytes: datatrove picks its hash function from the getter's return annotation, which a string
# annotation (`from __future__ import annotations`) would not match as `str`.
def _normalised(doc) -> bytes:
    return normalize_text(doc.text).encode("utf-8", "surrogatepass")


def _simplified(doc) -> bytes:
    return simplify_text(unicodedata.normalize("NFKC", doc.text)).encode("utf-8", "surrogatepass")


def _raw(doc) -> bytes:
    return doc.text.encode("utf-8", "surrogatepass")


def run_datatrove(shards, workdir: str, buckets: int, normalize: bool, getter=_normalised) -> tuple[int, float, float]:
    config = ExactDedupConfig(content_getter=getter if normalize else _raw)
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    n = len(shards)
    for rank, docs in enumerate(shards):
        ExactDedupSignature(f"{workdir}/sigs", config, finder_workers=buckets).run(iter(docs), rank, n)
    for b in range(buckets):
        ExactFindDedups(f"{workdir}/sigs", f"{workdir}/dups", config).run(None, b, buckets)
    kept = 0
    for rank, docs in enumerate(shards):
        kept += sum(1 for _ in ExactDedupFilter(f"{workdir}/dups", config).run(iter(docs), rank, n))
    return sum(len(s) for s in shards) - kept, time.process_time() - t_cpu, time.perf_counter() - t_wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--buckets", type=int, default=4)
    ap.add_argument("--no-normalize", action="store_true", help="hash raw text: isolates the shuffle's cost")
    args = ap.parse_args()
    normalize = not args.no_normalize
    shards, expected = make_shards(args.docs, args.shards, normalize)
    mb = sum(len(d.text.encode()) for s in shards for d in s) / 1e6
    print(
        f"{args.docs} documents ({mb:.1f} MB) in {args.shards} shards, {args.buckets} buckets; "
        f"{expected} duplicates by construction; normalise={normalize}"
    )
    results = {}
    cases = [("corpusforge", run_ours), ("datatrove", run_datatrove)]
    if normalize:  # as a datatrove user writes it: its own simplify_text in the content getter
        cases.append(("datatrove+simplify_text", partial(run_datatrove, getter=_simplified)))
    for name, fn in cases:
        with tempfile.TemporaryDirectory(prefix="bench-exact-") as work:
            dropped, cpu, wall = fn(shards, work, args.buckets, normalize)
        results[name] = cpu
        print(
            f"{name:24s} dropped {dropped:7d}  cpu {cpu:6.2f} s  wall {wall:6.2f} s  "
            f"{args.docs / cpu:9.0f} docs/cpu-s  {mb / cpu:6.1f} MB/cpu-s"
            + ("" if dropped == expected else "  MISMATCH")
        )
    for peer in [name for name in results if name != "corpusforge"]:
        print(f"speed ratio corpusforge / {peer} (cpu): {results[peer] / results['corpusforge']:.2f}x")


if __name__ == "__main__":
    logger.remove()  # datatrove logs every step at INFO
    main()
