"""Small real corpora for the mixture tests: scrapinghub article bodies (web) and GSM8K (math)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _articles() -> list[str]:
    truth = json.loads((DATA / "extraction" / "scrapinghub" / "ground-truth.json").read_text())
    return [truth[k]["articleBody"] for k in sorted(truth) if truth[k]["articleBody"].strip()]


def _gsm8k(n: int) -> list[str]:
    with open(DATA / "benchmarks" / "gsm8k" / "train.jsonl") as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    return [f"Question: {r['question']}\nAnswer: {r['answer']}" for r in rows]


def write_corpus(root: Path) -> Path:
    """A run-output-like directory: web documents of two quality tiers in two files, math in a third."""
    data = root / "data"
    data.mkdir(parents=True)
    web = []
    for i, text in enumerate(_articles()):
        tier = "high" if i % 3 == 0 else "low"
        web.append(
            Document(
                make_id("web", f"a{i}"),
                text,
                "web",
                {"language": "en", "url": f"https://x/{i}"},
                {"quality_tier": tier},
            )
        )
    # One contaminated document that the default selector must leave out.
    web.append(
        Document(
            make_id("web", "contaminated"),
            "The answer is 42. " * 50,
            "web",
            {"language": "en"},
            {"quality_tier": "high", "contamination": ["gsm8k/1"]},
        )
    )
    half = len(web) // 2
    storage.write_documents(str(data / "web-00000.parquet"), web[:half])
    storage.write_documents(str(data / "web-00001.parquet"), web[half:])
    math = [Document(make_id("math", f"g{i}"), t, "math", {"language": "en"}) for i, t in enumerate(_gsm8k(400))]
    storage.write_documents(str(data / "math-00000.parquet"), math)
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tokenizer_json(tmp_path_factory, corpus) -> str:
    """A byte-level BPE trained once on the corpus (shared by tests that pass `tokenizer.path`)."""
    from corpusforge.mixtures.tokenizer import save_tokenizer, train_bpe

    texts = _articles() + _gsm8k(400)
    path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    save_tokenizer(train_bpe(texts, 2000), path)
    return path


def blend(corpus: Path, out: Path, tokenizer: str | None = None, **over) -> dict:
    """A two-phase blend over the test corpus (a mapping, validated by the test)."""
    data = {
        "name": "test",
        "output": str(out),
        "seed": 7,
        "token_budget": 60000,
        "shard_tokens": 12000,
        "engine": {"type": "local", "workers": 1},
        "progress": False,
        "tokenizer": {"path": tokenizer} if tokenizer else {"train_vocab_size": 1000, "train_sample_docs": 600},
        "sources": {
            "web_high": {
                "paths": [str(corpus)],
                "where": {"quality_tier": ["high"], "language": ["en"]},
                "max_epochs": 4,
            },
            "web_low": {"paths": [str(corpus / "data" / "web-*.parquet")], "where": {"quality_tier": ["low"]}},
            "math": {"paths": [str(corpus)], "where": {"source": ["math"]}, "max_epochs": 2},
        },
        "phases": [
            {"name": "phase1", "fraction": 0.6, "weights": {"web_high": 0.2, "web_low": 0.6, "math": 0.2}},
            {"name": "phase2", "fraction": 0.4, "weights": {"web_high": 0.5, "web_low": 0.1, "math": 0.4}},
        ],
    }
    for k, v in over.items():
        data[k] = v
    return data


@pytest.fixture(scope="session")
def make_blend():
    """The `blend` builder, as a fixture (test modules cannot import conftest under importlib mode)."""
    return blend
