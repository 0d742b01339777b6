"""Tokenization throughput per core: `corpusforge mix` end to end against HF tokenizers' own batch encode.

End to end = read Parquet, select, count, tokenize, schedule, write Megatron shards, manifest, report.
The peer is `Tokenizer.encode_batch_fast` (and `encode_batch`) over the same texts already in memory.
Both run on one core (RAYON_NUM_THREADS=1, engine workers=1). Text: real article bodies
(scrapinghub benchmark) and GSM8K problems from ../shared/data, repeated to the requested size.

    .venv/bin/python benchmarks/tokenize_shards.py [--mb 40]
"""

from __future__ import annotations

import os
import sys

# This file is named as the issue asks, which shadows the standard library's `tokenize` module for
# anything imported after it: drop the script's folder from the import path first.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

# One core for both sides: set before tokenizers starts its thread pool.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _texts() -> list[str]:
    truth = json.loads((DATA / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    texts = [v["articleBody"] for v in truth.values() if v["articleBody"].strip()]
    with open(DATA / "benchmarks" / "gsm8k" / "train.jsonl") as f:
        texts += [(lambda r: f"Question: {r['question']}\nAnswer: {r['answer']}")(json.loads(line)) for line in f]
    return texts


def _write_corpus(root: Path, mb: float, files: int = 4) -> list[str]:
    from corpusforge.core import storage
    from corpusforge.core.document import Document, make_id

    base = _texts()
    docs, size, i = [], 0, 0
    while size < mb * 1e6:
        text = base[i % len(base)]
        docs.append(
            Document(
                make_id("web", str(i)), text, "web", {"language": "en"}, {"quality_tier": "high" if i % 2 else "low"}
            )
        )
        size += len(text.encode())
        i += 1
    per = -(-len(docs) // files)
    for f in range(files):
        storage.write_documents(str(root / "data" / f"part-{f:05d}.parquet"), docs[f * per : (f + 1) * per])
    return [d.text for d in docs]


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _mix(root: Path, corpus: Path, out: str, tok_path: str, lengths: list[int]) -> tuple[float, float, int]:
    """Export the whole corpus (each tier exactly once, one phase); returns (CPU s, wall s, tokens written)."""
    from corpusforge.mixtures.export import run_mix
    from corpusforge.mixtures.spec import validate_blend
    from corpusforge.mixtures.tokenizer import _load_cached

    n = sum(lengths)
    tier_tokens = {"high": sum(lengths[1::2]), "low": sum(lengths[0::2])}
    blend = {
        "name": "bench",
        "output": str(root / out),
        "token_budget": n,
        "shard_tokens": 1 << 22,
        "progress": False,
        "engine": {"type": "local", "workers": 1},
        "tokenizer": {"path": tok_path},
        "sources": {
            t: {"paths": [str(corpus)], "where": {"quality_tier": [t]}, "max_epochs": 1.0} for t in ("high", "low")
        },
        "phases": [{"name": "all", "fraction": 1.0, "weights": {t: k / n for t, k in tier_tokens.items()}}],
    }
    _load_cached.cache_clear()  # a cold tokenizer, as on the HF side
    t0, w0 = _cpu(), time.perf_counter()
    manifest = run_mix(validate_blend(blend)).manifest
    cpu, wall = _cpu() - t0, time.perf_counter() - w0
    assert sum(s.tokens for s in manifest.sources) == n  # tokenized every document
    assert manifest.tokens >= 0.999 * n, (manifest.tokens, n)  # and wrote (almost) all of them
    return cpu, wall, manifest.tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=40.0, help="MB of text")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from corpusforge.mixtures.tokenizer import save_tokenizer, train_bpe

    root = Path(tempfile.mkdtemp(prefix="cf-bench-tokenize-"))
    try:
        texts = _write_corpus(root / "corpus", args.mb)
        tiny = _write_corpus(root / "tiny", 0.05, files=2)
        tok = train_bpe(texts[:20000], args.vocab)
        tok_path = str(root / "tokenizer.json")
        save_tokenizer(tok, tok_path)
        mb = sum(len(t.encode()) for t in texts) / 1e6

        def hf(method: str, docs: list[str]) -> tuple[float, list[int]]:
            # A freshly loaded tokenizer per run: BPE's word cache starts cold on both sides.
            fn = getattr(Tokenizer.from_file(tok_path), method)
            t0 = _cpu()
            lengths = [
                len(e.ids) + 1
                for i in range(0, len(docs), 1000)
                for e in fn(docs[i : i + 1000], add_special_tokens=False)
            ]
            return _cpu() - t0, lengths

        # CPU seconds, not wall time: the per-core rate stays honest on a shared, loaded machine.
        # Best of `repeat` runs per side, interleaved so that drift hits both sides alike.
        hf_fast = hf_slow = ours = fixed = float("inf")
        for r in range(args.repeat):
            t, lengths = hf("encode_batch_fast", texts)
            hf_fast = min(hf_fast, t)
            hf_slow = min(hf_slow, hf("encode_batch", texts)[0])
            cpu, wall, _ = _mix(root, root / "corpus", f"out{r}", tok_path, lengths)
            ours = min(ours, cpu)
            # What an export costs besides its tokens (engine start, sampling, report): an export of 50 KB.
            fixed = min(fixed, _mix(root, root / "tiny", f"tiny{r}", tok_path, hf("encode_batch_fast", tiny)[1])[0])
        n = sum(lengths)
        print(
            f"text: {mb:.1f} MB, {len(texts):,} documents, {n:,} tokens (vocab {tok.get_vocab_size():,}); "
            f"1 core (RAYON_NUM_THREADS=1, engine workers=1); best of {args.repeat}, CPU seconds"
        )
        print(f"HF encode_batch_fast (texts in memory): {n / hf_fast / 1e6:6.3f} M tokens/s/core  ({hf_fast:.1f} s)")
        print(f"HF encode_batch (texts in memory):      {n / hf_slow / 1e6:6.3f} M tokens/s/core  ({hf_slow:.1f} s)")
        print(
            f"corpusforge mix, Parquet -> shards:     {n / ours / 1e6:6.3f} M tokens/s/core  ({ours:.1f} s; "
            f"last run {wall:.1f} s wall)"
        )
        print(
            f"overhead vs encode_batch_fast: {100 * (ours / hf_fast - 1):+.1f}% (target <= +20%); "
            f"vs encode_batch: {100 * (ours / hf_slow - 1):+.1f}%"
        )
        print(
            f"fixed cost per export (a 50 KB export): {fixed:.2f} s; per-token overhead without it: "
            f"{100 * ((ours - fixed) / hf_fast - 1):+.1f}% vs encode_batch_fast"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
