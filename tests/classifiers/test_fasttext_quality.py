"""fastText quality classifier on real article pages: CLI training, metrics, save/load, and the
gold-beats-boilerplate/shuffled check on ../shared/data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpusforge.classifiers.gold_labels import gold_labels, readability_pages, scrapinghub_pages
from corpusforge.classifiers.labels import read_labels, write_labels
from corpusforge.classifiers.model_store import load_calibration, load_classifier, read_meta
from corpusforge.classifiers.preprocess import prepare_text

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "extraction"
FAST = ["--bucket", "100000", "--dim", "32"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Labels from scrapinghub pages, trained through the CLI; readability pages held out."""
    tmp = tmp_path_factory.mktemp("ft")
    labels = tmp / "labels.parquet"
    write_labels(str(labels), gold_labels(scrapinghub_pages(DATA / "scrapinghub")))
    model = tmp / "model"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "corpusforge.cli",
            "classifiers",
            "train",
            str(labels),
            "--out",
            str(model),
            "--name",
            "gold_ft",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return model, out.stdout


def test_cli_train_prints_heldout_metrics(trained):
    model, stdout = trained
    metrics = json.loads(stdout.strip().splitlines()[-1])
    assert {"accuracy", "f1", "auc", "n"} <= metrics.keys()
    # a random split puts a page's shuffled copy (label 0) beside its gold text (label 1): hard
    assert metrics["n"] > 50 and metrics["auc"] > 0.75 and metrics["accuracy"] > 0.7
    meta = read_meta(str(model))
    assert meta["kind"] == "fasttext" and meta["metrics"]["auc"] == metrics["auc"]
    assert len(load_calibration(str(model)).thresholds) == 19


def test_gold_article_text_beats_boilerplate_and_shuffled_words(trained):
    model, _ = trained
    clf = load_classifier(str(model))
    held_out = gold_labels(readability_pages(DATA / "readability"), seed=1)  # other sites, never trained on
    scores = clf.score([r.text for r in held_out])
    mean = {
        k: float(np.mean([s for s, r in zip(scores, held_out) if r.origin.startswith(k)]))
        for k in ("gold", "boilerplate", "shuffled", "spam")
    }
    assert mean["gold"] > mean["boilerplate"] + 0.2
    assert mean["gold"] > mean["shuffled"] + 0.05
    assert mean["gold"] > mean["spam"] + 0.3


def test_loaded_once_per_process_and_batch_equals_single(trained):
    model, _ = trained
    assert load_classifier(str(model)) is load_classifier(str(model))
    clf = load_classifier(str(model))
    texts = ["A short paragraph about rivers.\nAnd a second line.", "buy now cheap cheap cheap", ""]
    batch = clf.score(texts)
    single = np.array([clf.score([t])[0] for t in texts])
    assert np.allclose(batch, single, atol=1e-6)
    assert np.all((batch >= 0) & (batch <= 1))


def test_labels_roundtrip_and_preprocessing_is_shared(tmp_path):
    rows = gold_labels(scrapinghub_pages(DATA / "scrapinghub"))[:8]
    for name in ("l.jsonl", "l.parquet"):
        write_labels(str(tmp_path / name), rows)
        back = read_labels(str(tmp_path / name))
        assert [(r.text, r.label) for r in back] == [(r.text, r.label) for r in rows]
    assert "\n" not in prepare_text("a\nb\n") and len(prepare_text("x" * 10, max_chars=4)) == 4


def test_multiclass_edu_labels_score_as_expected_value(tmp_path):
    from corpusforge.classifiers.fasttext_model import FastTextClassifier, FastTextSettings

    texts = (
        [f"lesson {i} explains fractions with worked examples and exercises" for i in range(30)]
        + [f"buy {i} cheap pills click here now" for i in range(30)]
        + [f"news item {i} about the weather today" for i in range(30)]
    )
    labels = [5.0] * 30 + [0.0] * 30 + [2.0] * 30
    clf = FastTextClassifier.train(texts, labels, FastTextSettings(bucket=10000, dim=16))
    s = clf.score(["lesson explains fractions with exercises", "buy cheap pills click here", "news about the weather"])
    assert s[0] > s[2] > s[1] and s.min() >= 0 and s.max() <= 5


def test_model_folder_on_s3_loads_and_scores_identically(trained, s3_server):
    from corpusforge.classifiers.model_store import write_calibration

    model, _ = trained
    local = load_classifier(str(model))
    remote = f"{s3_server}/models/gold_ft"
    local.save(remote, {"name": "gold_ft"})
    write_calibration(remote, load_calibration(str(model)))
    texts = ["An article about the harbour and the people who work there.", "click here buy now"]
    assert np.allclose(load_classifier(remote).score(texts), local.score(texts))
    assert load_calibration(remote) == load_calibration(str(model))
