"""`corpusforge classifiers bootstrap | calibrate | evaluate` on a run's Parquet output, with no
shared data needed at run time (the reference is CPython's bundled documentation)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from corpusforge.classifiers.gold_labels import gold_labels, readability_pages
from corpusforge.classifiers.labels import read_labels, stdlib_reference, write_labels
from corpusforge.classifiers.model_store import load_calibration, load_classifier, read_meta
from corpusforge.cli.classifiers import app
from corpusforge.core import storage
from corpusforge.core.document import Document

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "extraction"


def test_stdlib_reference_is_real_prose():
    chunks = stdlib_reference()
    assert len(chunks) > 150 and all(len(c) >= 500 for c in chunks)


def test_bootstrap_calibrate_evaluate(tmp_path):
    rows = gold_labels(readability_pages(DATA / "readability"), seed=0)
    web = [r for r in rows if not r.origin.startswith("shuffled")]
    for s in range(2):  # a run's output: data/<task>.parquet in the core schema
        storage.write_documents(
            str(tmp_path / "run" / "data" / f"{s}.parquet"),
            [Document(f"d{s}-{i}", r.text) for i, r in enumerate(web[s::2])],
        )
    model, labels = str(tmp_path / "dclm"), str(tmp_path / "labels.jsonl")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "bootstrap",
            str(tmp_path / "run" / "data" / "*.parquet"),
            "--out",
            model,
            "--labels-out",
            labels,
            "--epoch",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.stdout.strip().splitlines()[-1])
    assert metrics["auc"] > 0.9  # documentation prose vs web pages is an easy split
    assert read_meta(model)["name"] == "dclm_fasttext"
    written = read_labels(labels)
    assert sum(r.label == 1 for r in written) == sum(r.label == 0 for r in written) == len(web)
    cal = load_calibration(model)
    assert cal.n == len(web) and list(cal.thresholds) == sorted(cal.thresholds)  # calibrated on the run

    res = runner.invoke(app, ["calibrate", model, str(tmp_path / "run" / "data" / "0.parquet")])
    assert res.exit_code == 0, res.output
    assert load_calibration(model).n == len(web[0::2])

    write_labels(str(tmp_path / "eval.parquet"), written[:40])
    res = runner.invoke(app, ["evaluate", model, str(tmp_path / "eval.parquet")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["n"] == 40
    assert load_classifier(model).score(["x"]).shape == (1,)
