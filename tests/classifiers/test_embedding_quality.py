"""FineWeb-Edu-style embedding classifier (bundled all-MiniLM-L6-v2 + linear head) on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpusforge.classifiers.gold_labels import gold_labels, readability_pages, scrapinghub_pages
from corpusforge.classifiers.labels import write_labels
from corpusforge.classifiers.model_store import load_classifier, read_meta

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "extraction"


def _subset(rows, per_kind: int):
    out, seen = [], {}
    for r in rows:
        kind = r.origin.split(":")[0]
        if kind != "shuffled" and seen.get(kind, 0) < per_kind:  # bag-of-embeddings barely sees word order
            seen[kind] = seen.get(kind, 0) + 1
            out.append(r)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from corpusforge.classifiers.embedding_model import EmbeddingClassifier

    rows = _subset(gold_labels(scrapinghub_pages(DATA / "scrapinghub")), 10)
    out = str(tmp_path_factory.mktemp("emb") / "model")
    clf = EmbeddingClassifier.train([r.text for r in rows], [r.label for r in rows], device="cpu", max_tokens=128)
    clf.save(out, {"name": "edu_embed"})
    return out


def test_embedding_head_separates_gold_from_boilerplate_on_other_sites(model_dir):
    meta = read_meta(model_dir)
    assert meta["kind"] == "embedding" and meta["link"] == "logistic"
    clf = load_classifier(model_dir, "cpu")
    assert clf is load_classifier(model_dir, "cpu") and clf.device == "cpu"
    held = _subset(gold_labels(readability_pages(DATA / "readability"), seed=1), 6)
    scores = clf.score([r.text for r in held])
    gold = np.mean([s for s, r in zip(scores, held) if r.label == 1])
    bp = np.mean([s for s, r in zip(scores, held) if r.origin.startswith("boilerplate")])
    spam = np.mean([s for s, r in zip(scores, held) if r.origin.startswith("spam")])
    assert gold > bp + 0.2 and gold > spam + 0.3


def test_regression_head_for_edu_scores(tmp_path):
    from corpusforge.classifiers.embedding_model import EmbeddingClassifier

    texts = [
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "The water cycle moves water through evaporation, condensation and precipitation.",
        "To add fractions with unlike denominators, first find a common denominator.",
        "BUY NOW cheap watches best price click here!!!",
        "lol ok see u later",
        "Subscribe | Sign in | Home | Contact | Privacy | Terms",
    ]
    clf = EmbeddingClassifier.train(texts, [5, 4, 5, 0, 1, 0], device="cpu", max_tokens=64)
    assert clf.link == "identity"
    clf.save(str(tmp_path / "edu"))
    again = load_classifier(str(tmp_path / "edu"), "cpu")
    s = again.score(
        ["Mitosis is the process by which a cell divides into two identical cells.", "cheap pills discount click here"]
    )
    assert s[0] > s[1]
    write_labels(str(tmp_path / "l.jsonl"), [])  # an empty labels file is legal to write
