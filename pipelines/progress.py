"""Progress bars shared by the engines and long-running commands."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_enabled() -> bool:
    return os.environ.get("CORPUSFORGE_PROGRESS", "1") != "0"


@contextlib.contextmanager
def task_progress(desc: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over tasks; yields `set_completed(n)`."""
    if not progress_enabled():
        yield lambda n: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(desc, total=total)
        yield lambda n: progress.update(task, completed=n)
