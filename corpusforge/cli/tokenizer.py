"""`corpusforge tokenizer ...`: train a byte-level BPE on a sample of a corpus."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Train and inspect tokenizers.")
console = Console(stderr=True)


@app.command()
def train(
    inputs: list[str] = typer.Argument(..., help="Parquet files, globs or run outputs (<run>/data/*.parquet)"),
    out: str = typer.Option(..., "--out", "-o", help="Where to write tokenizer.json (local or s3://)"),
    vocab_size: int = typer.Option(32000, help="Vocabulary size, special tokens included"),
    sample_docs: int = typer.Option(100000, help="Documents sampled (seeded) from the inputs"),
    eod_token: str = typer.Option("<|endoftext|>", help="End-of-document special token"),
    language: list[str] = typer.Option(None, help="Only documents with this meta.language (repeatable)"),
    seed: int = typer.Option(0, help="Sampling seed"),
) -> None:
    """Train a byte-level BPE tokenizer of a chosen vocabulary on a document sample."""
    from corpusforge.mixtures.sources import resolve_files, survey_file
    from corpusforge.mixtures.spec import Selector, SourceSpec
    from corpusforge.mixtures.tokenizer import save_tokenizer, train_bpe

    where = Selector(language=language or None)
    files = resolve_files(SourceSpec(paths=inputs, where=where))
    if not files:
        console.print(f"[red]no Parquet files match[/red] {inputs}")
        raise typer.Exit(2)
    per_file = -(-sample_docs // len(files))
    sample = [t for f in files for t in survey_file(f, where, per_file, seed).sample][:sample_docs]
    tok = train_bpe(sample, vocab_size, [eod_token])
    save_tokenizer(tok, out)
    console.print(
        f"trained on {len(sample):,} documents from {len(files)} files: vocabulary "
        f"{tok.get_vocab_size():,} -> [bold]{out}[/bold]"
    )


@app.command()
def encode(
    tokenizer: str = typer.Argument(..., help="tokenizer.json"), text: str = typer.Argument(..., help="Text to encode")
) -> None:
    """Show the tokens of a text (to eyeball a tokenizer)."""
    from corpusforge.mixtures.tokenizer import load_tokenizer

    enc = load_tokenizer(tokenizer).encode(text, add_special_tokens=False)
    console.print(f"{len(enc.ids)} tokens: {enc.tokens}")
