"""Decontamination throughput: corpusforge's vectorised n-gram scan against a plain Python
set-of-13-grams scan on the same documents and the same benchmark items (one core each).

Documents: real article and page text from ../shared/data/extraction plus GSM8K/HumanEval items
planted in disguise (re-cased, re-spaced, markdown, LaTeX, embedded in long pages). Also builds a
synthetic 100k-item index to show build time, size and scan speed at that scale.

    .venv/bin/python benchmarks/decontam.py [--repeat 3] [--items 100000]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
sys.path.insert(0, str(REPO / "tests" / "stages"))

from corpusforge.stages.benchmark_sets import BenchmarkSpec, load_benchmark  # noqa: E402
from corpusforge.stages.decontaminate import scan  # noqa: E402
from corpusforge.stages.ngram_index import BenchmarkIndex, build_index  # noqa: E402

import test_decontaminate as planted_variants  # noqa: E402  (the test's disguises, one definition)

_WORD = re.compile(r"\w+")


class NaiveScan:
    """The straightforward baseline: lowercase, \\w+ tokens, a Python set of 13-gram tuples."""

    def __init__(self, items: list[tuple[str, str]], n: int = 13):
        self.n = n
        self.grams: dict[tuple, str] = {}
        for key, text in items:
            toks = _WORD.findall(text.lower())
            for i in range(len(toks) - n + 1):
                self.grams.setdefault(tuple(toks[i:i + n]), key)

    def contaminated(self, text: str) -> set[str]:
        toks = _WORD.findall(text.lower())
        n, grams = self.n, self.grams
        return {grams[g] for g in (tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)) if g in grams}


def _documents() -> tuple[list[str], list[tuple[str, str]]]:
    clean = [d.text for d in planted_variants._clean_real_documents()]
    planted = [(d.text, key) for d, key in planted_variants._planted_gsm8k()[::3] + planted_variants._planted_humaneval()]
    return clean, planted


def _rate(fn, texts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn(texts)
        best = min(best, time.process_time() - t0)
    return len(texts) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--items", type=int, default=100_000, help="synthetic items for the scale test (0: skip)")
    args = ap.parse_args()

    bench = SHARED / "benchmarks"
    items = list(load_benchmark(BenchmarkSpec(name="gsm8k", path=str(bench / "gsm8k"))))
    items += list(load_benchmark(BenchmarkSpec(name="humaneval", path=str(bench / "humaneval" / "HumanEval.jsonl.gz"))))
    t0 = time.process_time()
    index = build_index(items, 13, "word", 10)
    build_s = time.process_time() - t0
    t0 = time.process_time()
    naive = NaiveScan(items)
    naive_build_s = time.process_time() - t0

    clean, planted = _documents()
    texts = clean + [t for t, _ in planted]
    mb = sum(len(t) for t in texts) / 1e6
    print(f"index: {len(items)} items (GSM8K train+test, HumanEval), {len(index.hashes)} 13-grams; "
          f"build {build_s:.2f}s (naive set: {naive_build_s:.2f}s)")
    print(f"input: {len(texts)} documents, {mb:.1f} MB ({len(clean)} clean real, {len(planted)} planted)")

    ours = _rate(lambda ts: scan(index, ts), texts, args.repeat)
    base = _rate(lambda ts: [naive.contaminated(t) for t in ts], texts, args.repeat)
    print(f"scan, documents/s/core: corpusforge {ours:,.0f}  naive python {base:,.0f}  ratio {ours / base:.1f}x  "
          f"({ours * mb / len(texts):.1f} vs {base * mb / len(texts):.1f} MB/s)")

    found = scan(index, [t for t, _ in planted])
    ours_recall = sum(f is not None and key in f.items for f, (_, key) in zip(found, planted)) / len(planted)
    naive_recall = sum(key in naive.contaminated(t) for t, key in planted) / len(planted)
    fp = sum(f is not None for f in scan(index, clean))
    naive_fp = sum(bool(naive.contaminated(t)) for t in clean)
    print(f"recall on planted variants: corpusforge {ours_recall:.2%}  naive {naive_recall:.2%}")
    print(f"false positives on clean real text: corpusforge {fp}/{len(clean)}  naive {naive_fp}/{len(clean)}")

    if args.items:
        rng = random.Random(0)
        vocab = sorted({w for t in clean for w in _WORD.findall(t.lower())})
        synthetic = [(f"synth/{i}", " ".join(rng.choices(vocab, k=rng.randint(40, 120)))) for i in range(args.items)]
        t0 = time.process_time()
        big = build_index(synthetic + items, 13, "word", 10)
        big_build = time.process_time() - t0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.npz")
            big.save(path)
            size = os.path.getsize(path) / 1e6
            t0 = time.perf_counter()
            BenchmarkIndex.load(path)
            load_s = time.perf_counter() - t0
        big_rate = _rate(lambda ts: scan(big, ts), texts, args.repeat)
        print(f"scale: {len(big.keys):,} items, {len(big.hashes):,} 13-grams; build {big_build:.1f}s, "
              f"stored {size:.0f} MB, load {load_s:.2f}s; scan {big_rate:,.0f} documents/s/core")


if __name__ == "__main__":
    main()
