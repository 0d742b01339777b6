"""The `corpusforge` command line."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Build LLM pretraining corpora.", pretty_exceptions_enable=False
)
console = Console(stderr=True)


def _log_warnings() -> None:
    """Warnings of the library (a storage call being retried, a lease taken over) as one plain line each."""
    import logging

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


def _fail(e: BaseException, command: str, output: str | None) -> NoReturn:
    """One line on the terminal for a runtime error; the traceback goes to a log file that line names."""
    log = _error_log(command, output)
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(e)))
        where = f" (traceback: {log})"
    except OSError:
        where = ""
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    console.print(f"[red]error:[/red] {escape(f'{type(e).__name__}: {first}{where}')}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _error_log(command: str, output: str | None) -> Path:
    # A local output keeps its logs beside its work files; an object-store output may be the thing that failed.
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if output and "://" not in output:
        return Path(output) / "_work" / "logs" / f"{command}-{stamp}.log"
    return Path(tempfile.gettempdir()) / "corpusforge-logs" / f"{command}-{stamp}.log"


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML"),
    engine: str = typer.Option(None, "--engine", "-e", help="local | spark | ray (overrides the YAML)"),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: key.sub=value (repeatable)"),
) -> None:
    """Run a pipeline; rerunning the same command resumes it."""
    from corpusforge.core.config import ConfigError
    from corpusforge.pipelines.runner import run_pipeline
    from corpusforge.pipelines.schema import load_pipeline

    overrides = list(set_) + ([f"engine.type={engine}"] if engine else [])
    _log_warnings()
    config = None
    try:
        config = load_pipeline(pipeline, overrides)
        result = run_pipeline(config)
    except ConfigError as e:  # raised before any task runs: nothing to clean up
        console.print(f"[red]config error:[/red] {escape(str(e))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    except Exception as e:  # one line here, the traceback in the log file
        _fail(e, "run", config.output if config else None)
    console.print(f"documents: [bold]{result.data_dir}[/bold]")
    console.print(f"stats:     [bold]{result.stats_path}[/bold]")
    console.print(f"manifest:  [bold]{result.manifest_path}[/bold]")
    console.print(f"report:    [bold]{result.report_path}[/bold]")


@app.command()
def sample(
    out_dir: Path = typer.Argument(..., help="Where to write the demo input (warc/, eval/ and code/)"),
    seed: int = typer.Option(0, help="Random seed"),
) -> None:
    """Write the demo input: WARC files (web and math pages) and code repositories that give every stage work."""
    from corpusforge.samples.code import write_code_sample
    from corpusforge.samples.math import write_math_sample, write_math_sample_evals
    from corpusforge.samples.web import write_sample, write_sample_evals

    paths = write_sample(str(out_dir / "warc"), seed=seed)
    evals = write_sample_evals(str(out_dir / "eval"), seed=seed)
    # Real math pages (from ../shared/data/math, when present) in two more WARCs of the same crawl.
    math = write_math_sample(str(out_dir / "warc"), seed=seed)
    evals.update({f"math:{k}": v for k, v in write_math_sample_evals(str(out_dir / "eval"), seed=seed).items()})
    console.print(
        f"wrote {len(paths) + len(math)} WARC files ({len(math)} of math pages) under {out_dir / 'warc'}; "
        f"eval items: {', '.join(evals)}"
    )
    planted = write_code_sample(str(out_dir / "code"), seed=seed)
    console.print(
        f"wrote {len(planted['repositories']) + 1} code repositories under {out_dir / 'code' / 'repos'} "
        f"(planted items: {out_dir / 'code' / 'planted.json'})"
    )
    from corpusforge.samples.stack import write_stack_sample

    rows = write_stack_sample(str(out_dir / "code"))
    console.print(
        f"wrote the same code as The Stack-shaped rows under {out_dir / 'code' / 'stack'} "
        f"({', '.join(f'{k}: {v} rows' for k, v in rows.items())})"
    )


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
        table.add_row(
            s["name"],
            str(s["docs_in"]),
            str(s["docs_out"]),
            str(s["docs_dropped"]),
            f"{s['bytes_in'] / 1e6:.2f}",
            f"{s['bytes_out'] / 1e6:.2f}",
            f"{s['seconds']:.1f}",
            reasons,
        )
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

    _log_warnings()
    spec = None
    try:
        spec = load_blend(blend, list(set_))
        result = run_mix(spec)
    except ConfigError as e:
        console.print(f"[red]blend error:[/red] {escape(str(e))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    except Exception as e:  # one line here, the traceback in the log file
        _fail(e, "mix", spec.output if spec else None)
    for p in result.manifest.phases:
        console.print(
            f"{p.name}: {p.tokens:,} tokens, {len(p.shards)} shards, "
            f"max share error {100 * p.max_share_error:.3f} points"
        )
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
    from corpusforge.trainer.train import load_train_config, main_summary
    from corpusforge.trainer.train import train as train_proxy

    try:
        cfg = load_train_config(
            config,
            set_,
            manifest=manifest,
            preset=preset,
            max_steps=steps,
            out_dir=out,
            device=device,
            compile=compile_,
        )
    except ConfigError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2) from None
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
        raise typer.Exit(2) from None
    result = run_study(spec)
    console.print("recommended mixture: " + ", ".join(f"{k}={v:.3f}" for k, v in result.recommended.items()))
    console.print(
        f"predicted target loss {result.predicted_loss:.4f}; fit ({result.regression}) "
        f"Spearman {result.spearman:.2f}, MAE {result.mae:.4f}"
    )
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


def main() -> None:
    """The `corpusforge` command (a SIGTERM stops the run's worker processes too; not done for in-process calls)."""
    from corpusforge.cli.signals import stop_descendants_on_sigterm

    stop_descendants_on_sigterm()
    app()


if __name__ == "__main__":
    main()
