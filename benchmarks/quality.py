"""Quality-scoring throughput: documents per second per core for each classifier, against raw
fastText `predict` on the same texts with the same model (the floor any fastText scorer pays).

The overhead of our fastText path -- preprocessing, batching, label-to-score mapping, and in the
stage also percentile bucketing, tiers, annotations and the ledger -- must stay under 15%.

    .venv/bin/python benchmarks/quality.py [--docs 3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # per core: one thread everywhere
from corpusforge.classifiers.domain import DomainScorer
from corpusforge.classifiers.gold_labels import gold_labels, readability_pages, scrapinghub_pages
from corpusforge.classifiers.model_store import load_classifier
from corpusforge.classifiers.training import train_and_save
from corpusforge.core.document import Document
from corpusforge.stages.quality.scores import QualityScores

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "extraction"


def best_rate(fn, n: int, repeat: int) -> float:
    """Documents per second of the fastest of `repeat` runs (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--embed-docs", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    train_rows = gold_labels(scrapinghub_pages(DATA / "scrapinghub"))
    real = [
        r.text for r in gold_labels(readability_pages(DATA / "readability"), seed=1) if not r.origin.startswith("spam")
    ]
    texts = (real * (args.docs // len(real) + 1))[: args.docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    work = tempfile.mkdtemp(prefix="cf-bench-quality-")
    ft_dir = os.path.join(work, "ft")
    train_and_save(train_rows, ft_dir, name="gold_ft")  # default settings: what a user gets
    ft = load_classifier(ft_dir)
    raw_model = ft.model

    def raw_predict():
        raw_model.predict([t.replace("\n", " ") for t in texts], k=1)

    def ours_score():
        for i in range(0, len(texts), 256):
            ft.score(texts[i : i + 256])

    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]

    def ours_stage():
        stage = QualityScores(classifiers={"gold_ft": ft_dir}, batch_size=256)
        for d in docs:
            d.annotations = {}
        for _ in stage.run(iter(docs)):
            pass

    rates = {}
    # interleave the measurements so that load from other processes hits all of them alike
    for _ in range(args.repeat):
        for name, fn in (
            ("fasttext_raw_predict", raw_predict),
            ("fasttext_classifier", ours_score),
            ("quality_stage_fasttext", ours_stage),
        ):
            rates[name] = max(rates.get(name, 0.0), best_rate(fn, len(texts), 1))
    math, code = DomainScorer("math"), DomainScorer("code")
    rates["domain_math"] = best_rate(lambda: math.score(texts), len(texts), args.repeat)
    rates["domain_code"] = best_rate(lambda: code.score(texts), len(texts), args.repeat)

    import torch

    torch.set_num_threads(1)
    from corpusforge.classifiers.embedding_model import EmbeddingClassifier, resolve_device

    device = resolve_device("auto")
    sub = [r for r in train_rows if not r.origin.startswith("shuffled")][:48]
    emb = EmbeddingClassifier.train([r.text for r in sub], [r.label for r in sub], device=device)
    etexts = texts[: args.embed_docs]
    emb.score(etexts[:8])  # warm-up: first call builds kernels
    rates[f"embedding_minilm_{device}"] = best_rate(lambda: emb.score(etexts), len(etexts), 1)

    raw = rates["fasttext_raw_predict"]
    print(f"{len(texts)} real documents, {mb:.1f} MB, 1 thread; best of {args.repeat}")
    print(f"{'scorer':28s} {'docs/s/core':>12s} {'vs raw fastText':>16s}")
    for name, r in rates.items():
        print(f"{name:28s} {r:12.0f} {r / raw:15.2f}x")
    overhead = {k: round(1 - rates[k] / raw, 4) for k in ("fasttext_classifier", "quality_stage_fasttext")}
    print("overhead vs raw fastText predict:", {k: f"{v:.1%}" for k, v in overhead.items()}, "(budget 15%)")
    print(
        json.dumps(
            {
                "docs": len(texts),
                "mb": round(mb, 2),
                "docs_per_s_per_core": {k: round(v, 1) for k, v in rates.items()},
                "overhead": overhead,
            }
        )
    )


if __name__ == "__main__":
    main()
