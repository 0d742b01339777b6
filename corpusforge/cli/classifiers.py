"""`corpusforge classifiers ...`: train, bootstrap, calibrate, evaluate and annotate."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Train and calibrate quality classifiers (fastText, embedding head); LLM labels.",
)
console = Console(stderr=True)


def _print_metrics(title: str, metrics: dict) -> None:
    table = Table(title=title)
    for col in ("held-out n", "positives", "accuracy", "F1", "AUC"):
        table.add_column(col, justify="right")
    table.add_row(
        str(metrics["n"]),
        str(metrics["positives"]),
        f"{metrics['accuracy']:.3f}",
        f"{metrics['f1']:.3f}",
        f"{metrics['auc']:.3f}",
    )
    Console().print(table)
    print(json.dumps(metrics))


@app.command()
def train(
    labels: str = typer.Argument(..., help="Labels file: Parquet or JSONL with `text` and `label` (0/1 or 0-5)"),
    out: str = typer.Option(..., "--out", "-o", help="Model folder to write (local or s3://)"),
    kind: str = typer.Option("fasttext", help="fasttext | embedding"),
    name: str | None = typer.Option(None, help="Classifier name (default: the kind)"),
    holdout: float = typer.Option(0.2, help="Held-out fraction for the metrics"),
    epoch: int | None = typer.Option(None, help="fastText epochs (default 20)"),
    dim: int | None = typer.Option(None, help="fastText vector size (default 64)"),
    bucket: int | None = typer.Option(None, help="fastText n-gram hash buckets (default 500000)"),
    calibration: list[str] = typer.Option(
        [], help="Corpus sample for the percentiles (files/globs); default: the labelled texts"
    ),
    device: str = typer.Option("auto", help="Embedding encoder device: auto | cpu | cuda"),
    seed: int = typer.Option(0),
) -> None:
    """Train a classifier from a labels file and print its held-out accuracy, F1 and AUC."""
    from corpusforge.classifiers.labels import iter_texts, read_labels
    from corpusforge.classifiers.training import train_and_save

    rows = read_labels(labels)
    cal = iter_texts(calibration, limit=100_000) if calibration else None
    metrics = train_and_save(
        rows,
        out,
        kind=kind,
        name=name,
        holdout=holdout,
        seed=seed,
        epoch=epoch,
        dim=dim,
        bucket=bucket,
        device=device,
        calibration_texts=cal,
        source=labels,
    )
    _print_metrics(f"{kind} classifier -> {out}", metrics)


@app.command()
def bootstrap(
    random_docs: list[str] = typer.Argument(..., help="Random web documents: a run's data/*.parquet, or JSONL files"),
    out: str = typer.Option(..., "--out", "-o", help="Model folder to write"),
    reference: str = typer.Option(
        "stdlib-docs",
        help="Reference JSONL/Parquet of high-quality text, or `stdlib-docs` (CPython's bundled language reference)",
    ),
    labels_out: str | None = typer.Option(None, help="Also write the labels file here"),
    max_per_class: int = typer.Option(200_000, help="Examples per class (DCLM: ~200k)"),
    epoch: int = typer.Option(20, help="fastText epochs"),
    seed: int = typer.Option(0),
) -> None:
    """DCLM-style: reference texts vs random documents of a run -> fastText model, calibrated on the run."""
    from corpusforge.classifiers.labels import ReferenceVsRandomLabeller, iter_texts, stdlib_reference, write_labels
    from corpusforge.classifiers.training import train_and_save

    ref = stdlib_reference() if reference == "stdlib-docs" else iter_texts([reference])
    rows = list(
        ReferenceVsRandomLabeller(ref, iter_texts(random_docs), max_per_class=max_per_class, seed=seed).labels()
    )
    if labels_out:
        write_labels(labels_out, rows)
    metrics = train_and_save(
        rows,
        out,
        kind="fasttext",
        name="dclm_fasttext",
        seed=seed,
        epoch=epoch,
        calibration_texts=iter_texts(random_docs, limit=100_000),
        source=f"reference={reference} random={','.join(random_docs)}",
    )
    _print_metrics(f"reference-vs-random fastText -> {out}", metrics)


@app.command("math-bootstrap")
def math_bootstrap(
    docs: list[str] = typer.Argument(..., help="Documents to label: a math run's and a web run's data/*.parquet"),
    out: str = typer.Option(..., "--out", "-o", help="Model folder to write"),
    labels_out: str | None = typer.Option(None, help="Also write the labels file here"),
    max_per_label: int = typer.Option(50_000, help="Examples per label 0-5, at most"),
    epoch: int = typer.Option(20, help="fastText epochs"),
    seed: int = typer.Option(0),
) -> None:
    """FineMath-style 0-5 fastText model on math-score labels (classifiers/math_labels.py)."""
    from corpusforge.classifiers.labels import iter_texts, write_labels
    from corpusforge.classifiers.math_labels import MathScoreLabeller
    from corpusforge.classifiers.training import train_and_save

    rows = list(MathScoreLabeller(iter_texts(docs), max_per_label=max_per_label).labels())
    if len({r.label for r in rows}) < 2:
        console.print(
            f"[red]math-bootstrap:[/red] {len(rows)} documents, all labelled the same: "
            "give it math and non-math documents (a math run and a web run)"
        )
        raise typer.Exit(2)
    if labels_out:
        write_labels(labels_out, rows)
    metrics = train_and_save(
        rows,
        out,
        kind="fasttext",
        name="math_quality",
        seed=seed,
        epoch=epoch,
        balance=True,
        source=f"math_score labels of {','.join(docs)}",
    )
    _print_metrics(f"math-score fastText (0-5) -> {out}", metrics)


@app.command()
def calibrate(
    model: str = typer.Argument(..., help="Model folder"),
    sample: list[str] = typer.Argument(..., help="Corpus sample: Parquet/JSONL files or globs"),
    limit: int = typer.Option(100_000, help="At most this many documents"),
) -> None:
    """Recompute a model's percentile thresholds on a corpus sample (Nemotron-CC buckets)."""
    from corpusforge.classifiers.labels import iter_texts
    from corpusforge.classifiers.model_store import load_classifier, write_calibration
    from corpusforge.classifiers.training import calibration_for

    cal = calibration_for(load_classifier(model), iter_texts(sample, limit=limit))
    write_calibration(model, cal)
    console.print(f"calibrated {model} on {cal.n} documents: thresholds {[round(t, 4) for t in cal.thresholds]}")


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Model folder"),
    labels: str = typer.Argument(..., help="Labels file to evaluate on"),
) -> None:
    """Accuracy, F1 and AUC of a trained model on a labels file."""
    from corpusforge.classifiers.labels import read_labels
    from corpusforge.classifiers.metrics import evaluate as eval_metrics
    from corpusforge.classifiers.model_store import load_classifier

    rows = read_labels(labels)
    scores = load_classifier(model).score([r.text for r in rows])
    _print_metrics(f"{model} on {labels}", eval_metrics([r.label for r in rows], scores))


@app.command()
def annotate(
    inputs: list[str] = typer.Argument(..., help="Documents to annotate: Parquet/JSONL files or globs"),
    out: str = typer.Option(..., "--out", "-o", help="Labels file to write (JSONL or Parquet)"),
    base_url: str = typer.Option("http://localhost:8000/v1", help="OpenAI-compatible server (vLLM, NIM, SGLang)"),
    model: str = typer.Option(..., help="Model name the server serves"),
    cache: str = typer.Option(..., help="Annotation cache (JSONL); a rerun resumes from it"),
    limit: int | None = typer.Option(None, help="At most this many documents"),
    concurrency: int = typer.Option(8, help="Requests in flight"),
    prompt_version: str = typer.Option("1", help="Version of the edu_annotation prompt template"),
) -> None:
    """LLM-annotate educational value 0-5 (FineWeb-Edu prompt); cached, resumable."""
    from corpusforge.classifiers.labels import LLMEduLabeller, iter_texts, write_labels
    from corpusforge.synthetic.backends.openai_server import OpenAIServerBackend, OpenAIServerConfig
    from corpusforge.synthetic.prompt_template import load_prompt

    backend = OpenAIServerBackend(OpenAIServerConfig(base_url=base_url, model=model, concurrency=concurrency))
    labeller = LLMEduLabeller(
        backend, iter_texts(inputs, limit=limit), cache, prompt=load_prompt("edu_annotation", prompt_version)
    )
    n = write_labels(out, labeller.labels())
    failures = ", ".join(f"{k}={v}" for k, v in sorted(labeller.failures.items())) or "none"
    console.print(f"wrote {n} labels to {out} ({labeller.requested} requests; failed: {failures})")


def _code_labels(
    inputs: list[str],
    out: str | None,
    cache: str,
    base_url: str | None,
    model: str | None,
    concurrency: int,
    mode: str,
    limit: int | None,
    max_chars: int,
    max_tokens: int,
    prompt_version: str,
    seed: int,
) -> tuple[list, dict]:
    """Label a sample of code documents through the LLM layer; write labels and `<out>.stats.json`."""
    from corpusforge.classifiers.code_labels import (
        CONTINUE_FINAL_MESSAGE,
        PROMPT_NAME,
        LLMCodeQualityLabeller,
        agreement,
        iter_code_samples,
    )
    from corpusforge.classifiers.labels import write_labels
    from corpusforge.core import storage
    from corpusforge.core.stats import StageStats
    from corpusforge.stages.code.quality import heuristic_scores
    from corpusforge.synthetic.accounting import finalize
    from corpusforge.synthetic.backends import make_backend
    from corpusforge.synthetic.backends.embedded import EmbeddedConfig
    from corpusforge.synthetic.backends.openai_server import OpenAIServerConfig
    from corpusforge.synthetic.prompt_template import load_prompt

    if mode not in ("reasoned", "digit"):
        raise typer.BadParameter(f"--mode must be reasoned or digit, got {mode!r}")
    if base_url and not model:
        raise typer.BadParameter("--model is required with --base-url (the name the server serves)")
    backend = make_backend(
        OpenAIServerConfig(
            base_url=base_url,
            model=model or "",
            concurrency=concurrency,
            extra_body=CONTINUE_FINAL_MESSAGE if mode == "digit" else {},
        )
        if base_url
        else EmbeddedConfig()
    )
    samples = iter_code_samples(inputs, limit=limit, seed=seed)
    if not samples:
        console.print(f"[red]code labels:[/red] no code documents of 200+ characters in {inputs}")
        raise typer.Exit(2)
    ledger = StageStats("code_quality_labels")
    labeller = LLMCodeQualityLabeller(
        backend,
        samples,
        cache,
        mode=mode,  # type: ignore[arg-type]
        prompt=load_prompt(PROMPT_NAME, prompt_version),
        max_chars=max_chars,
        max_tokens=max_tokens,
        ledger=ledger,
    )
    rows = list(labeller.labels())
    report: dict = {
        "backend": backend.model,
        "prompt": labeller.prompt.key,
        "mode": mode,
        "stages": [ledger.to_dict()],
        "llm": finalize(ledger.extra),
    }
    if len(rows) >= 2:
        report["agreement_with_heuristic"] = agreement(
            [r.label for r in rows], heuristic_scores([r.text for r in rows])
        )
    if out:
        write_labels(out, rows)
        storage.write_text(f"{out}.stats.json", json.dumps(report, indent=2))
    failures = ", ".join(f"{k}={v}" for k, v in sorted(labeller.failures.items())) or "none"
    console.print(
        f"labelled {len(rows)} of {ledger.docs_in} code documents ({labeller.requested} requests, "
        f"{int(ledger.extra.get('llm_cache_hits', 0))} from the cache; failed: {failures})"
    )
    if "agreement_with_heuristic" in report:
        a = report["agreement_with_heuristic"]
        console.print(
            f"agreement with the heuristic score: Spearman {a['spearman']:.3f}, quadratic kappa "
            f"{a['quadratic_kappa']:.3f}, within one label {a['within_1']:.3f}; labels {a['label_histogram']}"
        )
    return rows, report


_INPUTS_HELP = "Code documents: a code run's data/*.parquet (or JSONL with text, meta.language, meta.path)"
_BASE_URL_HELP = "OpenAI-compatible server (vLLM, NIM, SGLang); default: the embedded model in this process"
_MODE_HELP = "reasoned: justification + 'Final score: N' (served models); digit: one token, digit logprobs"


@app.command("code-annotate")
def code_annotate(
    inputs: list[str] = typer.Argument(..., help=_INPUTS_HELP),
    out: str = typer.Option(..., "--out", "-o", help="Labels file to write (JSONL or Parquet); stats beside it"),
    cache: str | None = typer.Option(None, help="Annotation cache (JSONL; default <out>.cache.jsonl)"),
    base_url: str | None = typer.Option(None, help=_BASE_URL_HELP),
    model: str | None = typer.Option(None, help="Model name the server serves"),
    concurrency: int = typer.Option(32, help="Requests in flight (server)"),
    mode: str = typer.Option("reasoned", help=_MODE_HELP),
    limit: int | None = typer.Option(2000, help="A seeded uniform sample of this many documents"),
    max_chars: int = typer.Option(6000, help="Characters of each file the model sees"),
    max_tokens: int = typer.Option(256, help="Reply tokens in reasoned mode"),
    prompt_version: str = typer.Option("1", help="Version of the code_quality prompt template"),
    seed: int = typer.Option(0),
) -> None:
    """LLM-rate code quality 0-5 (cumulative rubric, 'Final score: N'); cached, resumable, accounted."""
    _code_labels(
        inputs,
        out,
        cache or f"{out}.cache.jsonl",
        base_url,
        model,
        concurrency,
        mode,
        limit,
        max_chars,
        max_tokens,
        prompt_version,
        seed,
    )


@app.command("code-bootstrap")
def code_bootstrap(
    inputs: list[str] = typer.Argument(..., help=_INPUTS_HELP),
    out: str = typer.Option(..., "--out", "-o", help="Model folder to write"),
    labels_out: str | None = typer.Option(None, help="Labels file (default <out>/labels.jsonl); stats beside it"),
    cache: str | None = typer.Option(None, help="Annotation cache (default <out>/labels.cache.jsonl)"),
    base_url: str | None = typer.Option(None, help=_BASE_URL_HELP),
    model: str | None = typer.Option(None, help="Model name the server serves"),
    concurrency: int = typer.Option(32, help="Requests in flight (server)"),
    mode: str = typer.Option("reasoned", help=_MODE_HELP),
    limit: int | None = typer.Option(2000, help="A seeded uniform sample of this many documents to label"),
    max_chars: int = typer.Option(6000, help="Characters of each file the model sees"),
    max_tokens: int = typer.Option(256, help="Reply tokens in reasoned mode"),
    prompt_version: str = typer.Option("1", help="Version of the code_quality prompt template"),
    kind: str = typer.Option("fasttext", help="fasttext | embedding"),
    epoch: int = typer.Option(20, help="fastText epochs"),
    seed: int = typer.Option(0),
) -> None:
    """LLM labels of a code sample (code-annotate) -> a 0-5 classifier for `code_quality`, calibrated on the inputs."""
    from corpusforge.classifiers.labels import iter_texts
    from corpusforge.classifiers.training import train_and_save
    from corpusforge.core import storage

    labels_path = labels_out or storage.join(out, "labels.jsonl")
    rows, report = _code_labels(
        inputs,
        labels_path,
        cache or storage.join(out, "labels.cache.jsonl"),
        base_url,
        model,
        concurrency,
        mode,
        limit,
        max_chars,
        max_tokens,
        prompt_version,
        seed,
    )
    if len({r.label for r in rows}) < 2 or len(rows) < 5:
        console.print(
            f"[red]code-bootstrap:[/red] {len(rows)} labelled documents, labels {sorted({r.label for r in rows})}: "
            "a classifier needs at least five, with two different labels"
        )
        raise typer.Exit(2)
    metrics = train_and_save(
        rows,
        out,
        kind=kind,
        name="code_quality",
        seed=seed,
        epoch=epoch if kind == "fasttext" else None,
        calibration_texts=iter_texts(inputs, limit=100_000),
        source=f"{report['prompt']} {report['mode']} labels by {report['backend']} of {','.join(inputs)}",
    )
    _print_metrics(f"code-quality {kind} (0-5) -> {out}", metrics)
