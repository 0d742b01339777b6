"""Decontamination throughput: corpusforge's vectorised n-gram scan against a plain Python
set-of-13-grams scan on the same documents and the same benchmark items (one core each).

Documents: real article and page text from ../shared/data/extraction plus GSM8K/HumanEval items
planted in disguise (re-cased, re-spaced, markdown, LaTeX, embedded in long pages). Also builds a
synthetic 100k-item index to show build time, size and scan speed at that scale.

    .venv/bin/python benchmarks/decontam.py [--repeat 3] [--items 100000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
from corpusforge.core.document import Document
from corpusforge.stages.decontam.benchmark_sets import BenchmarkSpec, load_benchmark
from corpusforge.stages.decontam.decontaminate import Decontaminate, scan
from corpusforge.stages.decontam.ngram_index import BenchmarkIndex, build_index


def _import_test_module():
    # The planted disguises are defined once, in the test; load that file as a module.
    spec = importlib.util.spec_from_file_location(
        "decontam_variants", REPO / "tests" / "stages" / "test_decontaminate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planted_variants = _import_test_module()

_WORD = re.compile(r"\w+")
SPECS = [
    {"name": "gsm8k", "path": str(SHARED / "benchmarks" / "gsm8k")},
    {"name": "humaneval", "path": str(SHARED / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz")},
]


class NaiveScan:
    """The straightforward baseline: lowercase, \\w+ tokens, a Python set of 13-gram tuples."""

    def __init__(self, items: list[tuple[str, str]], n: int = 13):
        self.n = n
        self.grams: dict[tuple, str] = {}
        for key, text in items:
            toks = _WORD.findall(text.lower())
            for i in range(len(toks) - n + 1):
                self.grams.setdefault(tuple(toks[i : i + n]), key)

    def contaminated(self, text: str) -> set[str]:
        toks = _WORD.findall(text.lower())
        n, grams = self.n, self.grams
        return {grams[g] for g in (tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)) if g in grams}


def _documents() -> tuple[list[str], list[tuple[str, str]]]:
    clean = [d.text for d in planted_variants._clean_real_documents()]
    planted = [
        (d.text, key) for d, key in planted_variants._planted_gsm8k()[::3] + planted_variants._planted_humaneval()
    ]
    return clean, planted


def _scan_batched(index: BenchmarkIndex, texts: list[str], batch_chars: int = 1 << 20) -> list:
    """`scan` in batches of about 1 MB, as the stage feeds it."""
    out, batch, size = [], [], 0
    for t in texts:
        batch.append(t)
        size += len(t)
        if size >= batch_chars:
            out += scan(index, batch)
            batch, size = [], 0
    return out + (scan(index, batch) if batch else [])


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

    items = [item for spec in SPECS for item in load_benchmark(BenchmarkSpec(**spec))]
    t0 = time.process_time()
    index = build_index(items, 13, "word", 10)
    build_s = time.process_time() - t0
    t0 = time.process_time()
    naive = NaiveScan(items)
    naive_build_s = time.process_time() - t0

    clean, planted = _documents()
    texts = clean + [t for t, _ in planted]
    mb = sum(len(t) for t in texts) / 1e6
    print(
        f"index: {len(items)} items (GSM8K train+test, HumanEval), {len(index.hashes)} 13-grams; "
        f"build {build_s:.2f}s (naive set: {naive_build_s:.2f}s)"
    )
    print(f"input: {len(texts)} documents, {mb:.1f} MB ({len(clean)} clean real, {len(planted)} planted)")

    stage = Decontaminate(benchmarks=SPECS, policy="flag")
    stage.index = index
    stage._ready = True
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    stage_rate = _rate(lambda ts: sum(1 for _ in stage.run(Document(d.id, d.text) for d in docs)), texts, args.repeat)
    ours = _rate(lambda ts: _scan_batched(index, ts), texts, args.repeat)
    base = _rate(lambda ts: [naive.contaminated(t) for t in ts], texts, args.repeat)
    print(
        f"scan, documents/s/core: corpusforge stage {stage_rate:,.0f}, scan {ours:,.0f}; naive python {base:,.0f}; "
        f"ratio {stage_rate / base:.1f}x (stage) {ours / base:.1f}x (scan)"
    )
    clean_ours = _rate(lambda ts: _scan_batched(index, ts), clean, args.repeat)
    clean_base = _rate(lambda ts: [naive.contaminated(t) for t in ts], clean, args.repeat)
    cmb = sum(len(t) for t in clean) / 1e6
    print(
        f"clean real text only: corpusforge {clean_ours * cmb / len(clean):.1f} MB/s, naive "
        f"{clean_base * cmb / len(clean):.1f} MB/s, ratio {clean_ours / clean_base:.1f}x"
    )

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
        big_rate = _rate(lambda ts: _scan_batched(big, ts), texts, args.repeat)
        print(
            f"scale: {len(big.keys):,} items, {len(big.hashes):,} 13-grams; build {big_build:.1f}s, "
            f"stored {size:.0f} MB, load {load_s:.2f}s; scan {big_rate:,.0f} documents/s/core"
        )


if __name__ == "__main__":
    main()
