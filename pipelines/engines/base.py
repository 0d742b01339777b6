"""What every engine offers the runner and global steps: run a function over items in parallel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any


class Engine(ABC):
    """Runs picklable top-level functions over items on local processes, Spark or Ray.

    Stages never see the engine; the runner and the `resolve` of global steps do. Work that
    needs a shuffle writes files keyed by bucket and maps over the buckets, so the same code
    runs everywhere and memory stays bounded per task.
    """

    name: str = "engine"

    def __init__(self, workers: int = 2, address: str | None = None, workdir: str | None = None):
        self.workers = workers
        self.address = address
        self.workdir = workdir

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "tasks") -> list[Any]:
        """`[fn(x) for x in items]`, run in parallel; results come back in item order."""

    def close(self) -> None:
        """Release the session or cluster this engine started."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_engine(kind: str, workers: int = 2, address: str | None = None, workdir: str | None = None) -> Engine:
    """The engine named in the pipeline config (`local`, `spark`, `ray`)."""
    cls: type[Engine]
    if kind == "local":
        from corpusforge.pipelines.engines.local import LocalEngine as cls
    elif kind == "spark":
        from corpusforge.pipelines.engines.spark import SparkEngine as cls
    elif kind == "ray":
        from corpusforge.pipelines.engines.ray import RayEngine as cls
    else:
        raise ValueError(f"engine.type: unknown engine {kind!r} (local, spark, ray)")
    return cls(workers=workers, address=address, workdir=workdir)
