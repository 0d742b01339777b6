"""Driver memory and time of the mixture scheduler per document, on synthetic sources (no tokenizing, no I/O).

Two sources (n and n/2 documents, 50-2000 tokens each), two phases with different weights, 90% of the tokens
asked for, so the streams, the cap cut, the look-ahead fill and the interleave all run. Peak memory is Python's
allocation peak (tracemalloc) while `schedule` runs, over the documents the sources hold; "held" is what the
finished plans keep. The source index itself (file id, doc id, length: 12 bytes per document) is extra.

    python benchmarks/scheduler_memory.py --docs 2000000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from corpusforge.mixtures.scheduler import SourceDocs, schedule
from corpusforge.mixtures.spec import validate_blend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2_000_000, help="documents in the larger source")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    def source(name: str, n: int) -> SourceDocs:
        return SourceDocs(
            name, np.zeros(n, np.int32), np.arange(n, dtype=np.int32), rng.integers(50, 2000, n).astype(np.int32)
        )  # the dtypes export's source index uses

    sources = {"a": source("a", args.docs), "b": source("b", args.docs // 2)}
    total = sum(s.tokens for s in sources.values())
    spec = validate_blend(
        {
            "output": "/tmp/unused",
            "token_budget": int(total * 0.9),
            "shard_tokens": 2**27,
            "tokenizer": {"path": "unused.json"},
            "sources": {"a": {"paths": ["a"]}, "b": {"paths": ["b"]}},
            "phases": [
                {"name": "p1", "fraction": 0.8, "weights": {"a": 0.6, "b": 0.4}},
                {"name": "p2", "fraction": 0.2, "weights": {"a": 0.3, "b": 0.7}},
            ],
        }
    )
    docs = sum(len(s.lengths) for s in sources.values())
    tracemalloc.start()
    t0 = time.perf_counter()
    plans = schedule(spec, sources)
    seconds = time.perf_counter() - t0
    held, peak = tracemalloc.get_traced_memory()
    scheduled = sum(p.documents for p in plans)
    print(
        f"{docs:,} documents, {scheduled:,} scheduled in {seconds:.2f} s: peak {peak / docs:.1f} B/doc, "
        f"plans hold {held / docs:.1f} B/doc (+ 12 B/doc source index)"
    )


if __name__ == "__main__":
    main()
