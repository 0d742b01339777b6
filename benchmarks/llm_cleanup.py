"""LLM page cleanup on real math pages: what the model keeps of the formulas, and what the guard catches.

Pages: a few real pages of `<repo>/../shared/data/math` (forum posts, Stack Exchange, Wikipedia,
a MathJax sample), extracted by the math lane's extractor, then cleaned by `llm_cleanup` (math
variant) with the embedded SmolLM2-135M (default) or any OpenAI-compatible server (`--base-url`).
Printed per page and overall:
- gold formulas present (the math lane's metric: whitespace-insensitive) in the extracted text,
  in the model's replies as they came back, and in the stage's output (after the guard put back
  the original text of chunks whose reply lost most of their formulas);
- chunks cleaned / kept original (by reason) / dropped; "NO USEFUL CONTENT" replies;
- completion tokens per second of wall time.

    .venv/bin/python benchmarks/llm_cleanup.py            # writes benchmarks/reference/llm_cleanup.json
    .venv/bin/python benchmarks/llm_cleanup.py --base-url http://vllm-host:8000/v1 --model microsoft/phi-4 \
        --tokenizer /models/phi-4/tokenizer.json --chunk-tokens 5000 --max-tokens 8192 --out /tmp/phi4.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from pathlib import Path

from corpusforge.core.document import Document, make_id
from corpusforge.samples.math import shared_math_pages
from corpusforge.stages.math.scoring import formulas_found
from corpusforge.stages.web.extract import Extract
from corpusforge.synthetic.tasks.cleanup import LLMCleanup

OUT = Path(__file__).resolve().parent / "reference" / "llm_cleanup.json"
# Small real pages of four markup kinds: the embedded model decodes a few tokens a second on a CPU core.
PAGES = (
    "mathhelpforum_169103",
    "se_physics_621479",
    "mathhelpforum_121269",
    "wikipedia_pyruvate_dehydrogenase_quinone",
    "mathjax2_sample",
)


class _Replies(LLMCleanup):
    """The stage, also keeping each page's raw replies (before the guard's fallback) for the figures."""

    def _finish(self, job):  # type: ignore[no-untyped-def]
        self.raw[job.doc.id] = "\n\n".join(job.replies[i].text for i in sorted(job.replies) if job.replies[i].ok)
        return super()._finish(job)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", nargs="*", default=list(PAGES))
    ap.add_argument("--base-url", default=None, help="an OpenAI-compatible server instead of the embedded model")
    ap.add_argument("--model", default=None)
    ap.add_argument("--tokenizer", default="embedded")
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=768)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    rows = {r["name"]: r for r in shared_math_pages()}
    extract = Extract(extractor="math")
    docs, gold = [], {}
    for name in args.pages:
        row = rows[name]
        html = row["html"].decode("utf-8", "replace")
        [doc] = list(extract.run([Document(make_id("bench", name), html, "math", {"url": row["url"]})]))
        docs.append(doc)
        gold[doc.id] = (name, row["kind"], row["formulas"])

    backend = (
        {"type": "openai", "base_url": args.base_url, "model": args.model, "concurrency": 16}
        if args.base_url
        else {"type": "embedded", "batch_size": args.batch_size}
    )
    stage = _Replies(
        variant="math",
        backend=backend,
        tokenizer=args.tokenizer,
        cache=False,
        chunk_tokens=args.chunk_tokens,
        sampling={"temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_tokens": args.max_tokens},
    )
    stage.raw = {}
    t0 = time.perf_counter()
    out = {d.meta["source_id"]: d for d in stage.run(docs)}
    wall = time.perf_counter() - t0

    pages, totals = [], Counter()
    for doc in docs:
        name, kind, formulas = gold[doc.id]
        cleaned = out.get(doc.id)
        row = {
            "page": name,
            "kind": kind,
            "gold_formulas": len(formulas),
            "in_extracted": formulas_found(doc.text, formulas),
            "in_replies": formulas_found(stage.raw.get(doc.id, ""), formulas),
            "in_output": formulas_found(cleaned.text, formulas) if cleaned else 0,
            "chunks": json.loads(cleaned.meta["cleanup"]) if cleaned else None,
            "output_chars": len(cleaned.text) if cleaned else 0,
            "input_chars": len(doc.text),
        }
        pages.append(row)
        for k in ("gold_formulas", "in_extracted", "in_replies", "in_output"):
            totals[k] += row[k]
        print(
            f"{name:42s} {kind:6s} gold {row['gold_formulas']:3d}  extracted {row['in_extracted']:3d}  "
            f"replies {row['in_replies']:3d}  output {row['in_output']:3d}  {row['chunks']}"
        )
    extra = stage.ledger.to_dict()["extra"]
    summary = {
        "model": stage.backend.model,
        "settings": {"chunk_tokens": args.chunk_tokens, "max_tokens": args.max_tokens, "sampling": "curator"},
        "pages": len(docs),
        "gold_formulas": totals["gold_formulas"],
        "recall_extracted": round(totals["in_extracted"] / max(totals["gold_formulas"], 1), 3),
        "recall_replies": round(totals["in_replies"] / max(totals["gold_formulas"], 1), 3),
        "recall_output": round(totals["in_output"] / max(totals["gold_formulas"], 1), 3),
        "guard_items_kept_share": round(extra.get("guard_items_kept", 0) / max(extra.get("guard_items_sent", 1), 1), 3),
        "chunks": extra.get("chunks", 0),
        "chunks_cleaned": extra.get("chunks_cleaned", 0),
        "chunks_kept_original": extra.get("chunks_kept_original", {}),
        "chunks_dropped": extra.get("chunks_dropped", {}),
        "documents_out": stage.ledger.docs_out,
        "documents_dropped": dict(stage.ledger.dropped),
        "completion_tokens": extra.get("llm_completion_tokens", 0),
        "completion_tokens_per_s": round(extra.get("llm_completion_tokens", 0) / wall, 2),
        "wall_s": round(wall, 1),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores (shared)",
        "per_page": pages,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "per_page"}, indent=1))
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
