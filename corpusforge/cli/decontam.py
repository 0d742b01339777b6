"""`corpusforge decontam`: build a pipeline's benchmark index ahead of a run, print what a run found."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Benchmark decontamination: index builds and contamination reports.")
console = Console()


@app.command("build-index")
def build_index(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML with one or more `decontaminate` stages"),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: key.sub=value (repeatable)"),
) -> None:
    """Build (or reuse) the n-gram index of every decontaminate stage, where the run will look for it."""
    from corpusforge.pipelines.schema import load_pipeline
    from corpusforge.stages.decontam.decontaminate import Decontaminate
    from corpusforge.stages.decontam.ngram_index import read_index_meta

    config = load_pipeline(pipeline, set_)
    stages = [Decontaminate(c) for c in config.stages if c.type == Decontaminate.type]
    if not stages:
        console.print(f"[yellow]{pipeline} has no decontaminate stage[/yellow]")
        raise typer.Exit(1)
    for stage in stages:
        stage.before_run(config.output)
        assert stage.config.index_path is not None  # before_run always sets it
        meta = read_index_meta(stage.config.index_path) or {}
        console.print(
            f"{stage.name}: {meta.get('items')} items, {meta.get('ngrams')} {meta.get('mode')} "
            f"{meta.get('n')}-grams -> [bold]{stage.config.index_path}[/bold]"
        )


@app.command()
def report(
    run_dir: str = typer.Argument(..., help="A finished run's output prefix (local or s3://)"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Per benchmark: items found, documents affected, the most-hit items and examples."""
    from corpusforge.core import storage
    from corpusforge.stages.decontam.decontaminate import contamination_report

    stats = json.loads(storage.read_text(storage.join(run_dir, "stats.json")))
    # a decontaminate stage's ledger names its index in extra["index"]
    found = {
        s["name"]: contamination_report(s.get("extra", {}))
        for s in stats["stages"]
        if "-grams" in str(s.get("extra", {}).get("index", ""))
    }
    if as_json:
        print(json.dumps(found, indent=2))
        return
    for name, per_bench in found.items():
        table = Table(title=f"{name}: contamination")
        for col in ("benchmark", "items found", "docs affected", "most-hit items", "example"):
            table.add_column(col)
        for bench, r in per_bench.items():
            top = ", ".join(f"{t['item']} ({t['docs']})" for t in r["top_items"][:3])
            example = r["examples"][0]["matched_text"][:80] if r["examples"] else ""
            table.add_row(bench, str(r["items_found"]), str(r["docs_affected"]), top, example)
        console.print(table if per_bench else f"{name}: no benchmark item found")
    if not found:
        console.print("this run has no decontaminate stage")
