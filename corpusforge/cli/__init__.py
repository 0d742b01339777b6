"""The `corpusforge` command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Build LLM pretraining corpora.")
console = Console(stderr=True)


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML"),
    engine: str = typer.Option(None, "--engine", "-e", help="local | spark | ray (overrides the YAML)"),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: key.sub=value (repeatable)"),
) -> None:
    """Run a pipeline; rerunning the same command resumes it."""
    from corpusforge.core.config import ConfigError
    from corpusforge.pipelines.schema import load_pipeline
    from corpusforge.pipelines.runner import run_pipeline

    overrides = list(set_) + ([f"engine.type={engine}"] if engine else [])
    try:
        config = load_pipeline(pipeline, overrides)
        result = run_pipeline(config)
    except ConfigError as e:  # raised before any task runs: nothing to clean up
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2)
    console.print(f"documents: [bold]{result.data_dir}[/bold]")
    console.print(f"stats:     [bold]{result.stats_path}[/bold]")
    console.print(f"manifest:  [bold]{result.manifest_path}[/bold]")
    console.print(f"report:    [bold]{result.report_path}[/bold]")


@app.command()
def sample(out_dir: Path = typer.Argument(..., help="Where to write the demo input (warc/ and eval/)"),
           seed: int = typer.Option(0, help="Random seed")) -> None:
    """Write the demo input: WARC files that give every stage work, and the eval items they plant."""
    from corpusforge.samples.math import write_math_sample, write_math_sample_evals
    from corpusforge.samples.web import write_sample, write_sample_evals

    paths = write_sample(str(out_dir / "warc"), seed=seed)
    evals = write_sample_evals(str(out_dir / "eval"), seed=seed)
    # Real math pages (from ../shared/data/math, when present) in two more WARCs of the same crawl.
    math = write_math_sample(str(out_dir / "warc"), seed=seed)
    evals.update({f"math:{k}": v for k, v in write_math_sample_evals(str(out_dir / "eval"), seed=seed).items()})
    console.print(f"wrote {len(paths) + len(math)} WARC files ({len(math)} of math pages) under {out_dir / 'warc'}; "
                  f"eval items: {', '.join(evals)}")


@app.command()
def stats(run_dir: str = typer.Argument(..., help="A run's output prefix (local or s3://)")) -> None:
    """Show a run's ledger as a table."""
    from corpusforge.core import storage

    data = json.loads(storage.read_text(storage.join(run_dir, "stats.json")))
    table = Table(title=f"{data.get('pipeline', '')} — {run_dir}")
    for col in ("stage", "in", "out", "dropped", "MB in", "MB out", "s", "drop reasons"):
        table.add_column(col, justify="left" if col in ("stage", "drop reasons") else "right")
    for s in data["stages"]:
        reasons = ", ".join(f"{k}={v}" for k, v in s["dropped"].items())
        table.add_row(s["name"], str(s["docs_in"]), str(s["docs_out"]), str(s["docs_dropped"]),
                      f"{s['bytes_in'] / 1e6:.2f}", f"{s['bytes_out'] / 1e6:.2f}", f"{s['seconds']:.1f}", reasons)
    Console().print(table)


@app.command()
def mix(
    blend: Path = typer.Argument(..., help="Blend YAML: sources, phases, weights, token budget"),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: key.sub=value (repeatable)"),
) -> None:
    """Blend and tokenize sources into Megatron shards per phase; rerunning resumes."""
    from corpusforge.core.config import ConfigError
    from corpusforge.mixtures.export import run_mix
    from corpusforge.mixtures.spec import load_blend

    try:
        result = run_mix(load_blend(blend, list(set_)))
    except ConfigError as e:
        console.print(f"[red]blend error:[/red] {e}")
        raise typer.Exit(2)
    for p in result.manifest.phases:
        console.print(f"{p.name}: {p.tokens:,} tokens, {len(p.shards)} shards, "
                      f"max share error {100 * p.max_share_error:.3f} points")
    console.print(f"manifest: [bold]{result.manifest_path}[/bold]")
    console.print(f"report:   [bold]{result.report_path}[/bold]")


@app.command()
def train(
    config: Path = typer.Argument(None, help="Train YAML (corpusforge.trainer.train.TrainConfig); optional"),
    manifest: str = typer.Option(None, help="A mix manifest (or its directory): its phases are the sources"),
    preset: str = typer.Option(None, help="proxy-10m | proxy-50m | proxy-200m"),
    steps: int = typer.Option(None, "--steps", help="Training steps"),
    out: str = typer.Option(None, "--out", help="Output directory (checkpoint, metrics.jsonl, result.json)"),
    device: str = typer.Option(None, help="auto | cpu | cuda"),
    compile_: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the model"),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: key=value, model.d_model=128 (repeatable)"),
) -> None:
    """Train one proxy model on token shards; rerunning resumes from its checkpoint."""
    from corpusforge.core.config import ConfigError
    from corpusforge.trainer.train import load_train_config, main_summary, train as train_proxy

    try:
        cfg = load_train_config(config, set_, manifest=manifest, preset=preset, max_steps=steps, out_dir=out,
                                device=device, compile=compile_)
    except ConfigError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2)
    console.print(main_summary(train_proxy(cfg)))
    console.print(f"metrics: [bold]{cfg.out_dir}/metrics.jsonl[/bold]")


@app.command()
def ablate(study: Path = typer.Argument(..., help="STUDY.yaml (corpusforge.trainer.study.StudySpec)")) -> None:
    """Train one proxy per sampled mixture, fit loss against weights, recommend a mixture (RegMix)."""
    from corpusforge.core.config import ConfigError
    from corpusforge.trainer.ablate import run_study
    from corpusforge.trainer.study import load_study

    try:
        spec = load_study(study)
    except ConfigError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2)
    result = run_study(spec)
    console.print("recommended mixture: " + ", ".join(f"{k}={v:.3f}" for k, v in result.recommended.items()))
    console.print(f"predicted target loss {result.predicted_loss:.4f}; fit ({result.regression}) "
                  f"Spearman {result.spearman:.2f}, MAE {result.mae:.4f}")
    console.print(f"report: [bold]{result.report_path}[/bold]")


# Sub-command groups of the other parts register here: one import each, kept lazy so that
# `corpusforge run` never pays for torch or Spark it does not use.
def _add_groups() -> None:
    groups = {
        # "name": "module:typer_app_attribute",
        "classifiers": "corpusforge.cli.classifiers:app",
        "tokenizer": "corpusforge.cli.tokenizer:app",
        "decontam": "corpusforge.cli.decontam:app",
        "llm": "corpusforge.cli.llm:app",
    }
    import importlib

    for name, target in groups.items():
        module, _, attr = target.partition(":")
        if len(sys.argv) > 1 and sys.argv[1] != name and sys.argv[1] not in ("--help", "-h"):
            continue
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)


_add_groups()


if __name__ == "__main__":
    app()
