"""How good are LLM-rated code-quality labels, and the classifier trained on them?

Corpus: real source files of the `corpusforge sample` code sample (packages of this venv), read by the
code lane's reader. Three measurements, for the labeller named on the command line (default: the
embedded SmolLM2-135M; `--base-url/--model` for a vLLM / NIM / SGLang server):

1. Reply discipline (reasoned mode, a few files): the share of replies that end in a parsable
   "Final score: N".
2. Agreement of the labels with the heuristic code-quality score of `code_quality` (Spearman, and
   quadratic-weighted kappa / within-one against the heuristic cut in six bins).
3. A held-out sanity set with a known answer: real Python files against a degraded copy of each
   (comments and docstrings removed, every local name renamed to `v<N>`). A labeller that reads code
   should score the original higher; the pairwise accuracy (ties count half) is given for the LLM
   labels, the heuristic score, and a fastText classifier trained on the LLM labels of the corpus.

    .venv/bin/python benchmarks/code_quality_labels.py [--docs 48] [--pairs 16] [--base-url URL --model M]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpusforge.classifiers.code_labels import (
    CONTINUE_FINAL_MESSAGE,
    CodeSample,
    LLMCodeQualityLabeller,
    agreement,
    degraded_copy,
)
from corpusforge.core.stats import StageStats
from corpusforge.samples.code import write_code_sample
from corpusforge.stages.code.quality import heuristic_scores
from corpusforge.synthetic.accounting import finalize
from corpusforge.synthetic.backends import make_backend
from corpusforge.synthetic.backends.embedded import EmbeddedConfig
from corpusforge.synthetic.backends.openai_server import OpenAIServerConfig


def code_files(sample_root: Path, min_chars: int = 400) -> list[CodeSample]:
    """Source files of the sample's repositories (every snapshot shape), as the code lane's reader yields them."""
    from corpusforge.stages.code.language import CodeLanguage
    from corpusforge.stages.code.repo_reader import RepoReader

    paths = sorted(str(p) for p in (sample_root / "repos").iterdir())
    reader = RepoReader(paths=paths)
    reader.setup()
    docs = [d for p in paths for d in reader.read_counted(p)]
    lang = CodeLanguage()
    lang._ensure_ready()
    out = []
    for d in lang.run(docs):
        if len(d.text) >= min_chars and d.meta.get("language") not in (None, "Text", "Markdown"):
            out.append(CodeSample(d.text, d.meta.get("language", ""), f"{d.meta.get('repo')}/{d.meta.get('path')}"))
    return out


def pairwise(scores_orig, scores_degraded) -> float:
    """Share of pairs where the original scores higher (ties count half)."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(scores_orig, scores_degraded))
    return round(wins / max(len(scores_orig), 1), 3)


def label(backend, samples, cache, mode, max_chars, max_tokens=128) -> tuple[list, dict, LLMCodeQualityLabeller]:
    """Labels in input order (None where the reply failed) and the labelling ledger."""
    ledger = StageStats("code_quality_labels")
    labeller = LLMCodeQualityLabeller(
        backend, samples, cache, mode=mode, max_chars=max_chars, max_tokens=max_tokens, ledger=ledger
    )
    by_text = {r.text: r.label for r in labeller.labels()}
    stats = {**ledger.to_dict(), **finalize(ledger.extra)}
    return [by_text.get(s.text) for s in samples], stats, labeller


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=48, help="corpus files labelled (agreement, classifier)")
    ap.add_argument("--pairs", type=int, default=16, help="original/degraded pairs in the sanity set")
    ap.add_argument("--reasoned", type=int, default=6, help="files asked in reasoned mode (reply discipline)")
    ap.add_argument("--max-chars", type=int, default=2000, help="characters of each file the model sees")
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("CORPUSFORGE_PROGRESS", "0")
    rng = random.Random(args.seed)

    def backend_for(mode: str):
        if not args.base_url:
            return embedded
        extra = CONTINUE_FINAL_MESSAGE if mode == "digit" else {}
        return make_backend(
            OpenAIServerConfig(base_url=args.base_url, model=args.model or "", concurrency=32, extra_body=extra)
        )

    embedded = None if args.base_url else make_backend(EmbeddedConfig(batch_size=8))
    backend = backend_for("digit")
    result: dict = {"benchmark": "code_quality_labels", "labeller": backend.model, "cpu": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_code_sample(str(work / "sample"))
        pool = code_files(work / "sample")
        rng.shuffle(pool)
        python = [s for s in pool if s.language == "Python"]
        sanity = python[: args.pairs]
        corpus = [s for s in pool if s not in sanity][: args.docs]
        result["corpus_files"] = len(corpus)
        result["sanity_pairs"] = len(sanity)

        t0 = time.perf_counter()
        labels, stats, _ = label(backend, corpus, str(work / "cache.jsonl"), "digit", args.max_chars)
        result["digit_mode"] = {"seconds": round(time.perf_counter() - t0, 1), "ledger": stats}
        ok = [(s, y) for s, y in zip(corpus, labels) if y is not None]
        result["agreement_with_heuristic"] = agreement([y for _, y in ok], heuristic_scores([s.text for s, _ in ok]))
        print(json.dumps(result["agreement_with_heuristic"]), flush=True)

        degraded = [CodeSample(degraded_copy(s.text), s.language, s.path) for s in sanity]
        llm_orig, _, _ = label(backend, sanity, str(work / "cache.jsonl"), "digit", args.max_chars)
        llm_deg, _, _ = label(backend, degraded, str(work / "cache.jsonl"), "digit", args.max_chars)
        pairs = [(a, b) for a, b in zip(llm_orig, llm_deg) if a is not None and b is not None]
        h_orig = heuristic_scores([s.text for s in sanity])
        h_deg = heuristic_scores([s.text for s in degraded])
        sanity_out = {
            "pairs_both_labelled": len(pairs),
            "llm_labels": pairwise([a for a, _ in pairs], [b for _, b in pairs]),
            "heuristic": pairwise(list(h_orig), list(h_deg)),
        }

        from corpusforge.classifiers.labels import LabelledText
        from corpusforge.classifiers.training import train_and_save

        rows = [LabelledText(s.text, y, "llm") for s, y in ok]
        if len({r.label for r in rows}) >= 2:
            from corpusforge.classifiers.model_store import load_classifier

            metrics = train_and_save(rows, str(work / "model"), kind="fasttext", name="code_quality", seed=args.seed)
            result["classifier_held_out"] = metrics
            model = load_classifier(str(work / "model"))
            sanity_out["classifier"] = pairwise(
                list(model.score([s.text for s in sanity])), list(model.score([s.text for s in degraded]))
            )
        else:
            result["classifier_held_out"] = f"not trained: every label is {rows[0].label if rows else None}"
        result["sanity_original_beats_degraded"] = sanity_out
        print(json.dumps(sanity_out), flush=True)

        if args.reasoned:
            t0 = time.perf_counter()
            _, stats, labeller = label(
                backend_for("reasoned"), corpus[: args.reasoned], str(work / "cache.jsonl"), "reasoned", args.max_chars
            )
            result["reasoned_mode"] = {
                "files": args.reasoned,
                "parsed": stats["docs_out"],
                "failures": labeller.failures,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps(result["reasoned_mode"]), flush=True)
    out = ROOT / "benchmarks" / "reference" / "code_quality_labels.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
