"""`corpusforge llm ...`: serve the embedded model as an OpenAI-compatible server."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The LLM layer: serve the embedded model.")
console = Console(stderr=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)"),
    port: int = typer.Option(8000, help="Port (vLLM's default)"),
    batch_size: int = typer.Option(8, help="Requests decoded together"),
    threads: int = typer.Option(1, help="CPU threads for the model"),
    served_model_name: str | None = typer.Option(None, help="Model name clients send (default: the model's)"),
    context_tokens: int | None = typer.Option(None, help="Context limit to enforce (default: the model's)"),
) -> None:
    """Serve SmolLM2-135M-Instruct (bundled, CPU) at /v1/chat/completions, /v1/models and /health."""
    from corpusforge.synthetic.backends.embedded import EmbeddedBackend, EmbeddedConfig
    from corpusforge.synthetic.server import serve as run_server

    backend = EmbeddedBackend(EmbeddedConfig(batch_size=batch_size, threads=threads, context_tokens=context_tokens))
    name = served_model_name or backend.model
    console.print(f"serving [bold]{name}[/bold] on http://{host}:{port}/v1 (context {backend.context_tokens} tokens)")
    run_server(backend, host, port, name, max_batch=batch_size)
