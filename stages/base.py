"""The stage contract: a typed config and one generator from documents to documents.

A Stage is a datatrove `PipelineStep`, so it runs under datatrove's executors unchanged; our
engines (local, Spark, Ray) drive the same object through `run`. A stage never knows which
engine runs it.
"""

from __future__ import annotations

import builtins
import time
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from datatrove.pipeline.base import PipelineStep
from pydantic import BaseModel, ConfigDict

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.core.stats import StageStats


class StageConfig(BaseModel):
    """Base of every stage's settings; unknown keys are errors that name the field."""

    model_config = ConfigDict(extra="forbid")

    # The stage's one name is its class's `type`; YAML gives it to pick the class (pipelines/registry.py).
    type: str = ""
    name: str | None = None  # ledger name; defaults to the type (set it to run a type twice)

    def input_paths(self) -> dict[str, list[str]]:
        """Files, folders or globs this stage reads, by field name: the runner checks each before any work."""
        return {}


class Stage(PipelineStep):
    """Turns an iterable of documents into an iterable of documents, counting every drop."""

    type: ClassVar[str] = "stage"
    Config: ClassVar[builtins.type[StageConfig]] = StageConfig

    def __init__(self, config: StageConfig | None = None, **settings: Any):
        super().__init__()
        self.config = config if config is not None else self.Config(type=self.type, **settings)
        self.name = self.config.name or self.type
        self.ledger = StageStats(self.name)
        self._ready = False
        self._upstream = 0.0

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker before the first document."""

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Yield the documents that go on; call `self.drop(doc, reason)` for each one that does not."""
        yield from docs

    def drop(self, doc: Document, reason: str) -> None:
        self.ledger.drop(reason, len(doc.text.encode("utf-8", "surrogatepass")))

    def run(self, data: Iterable[Document] | None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        self._ensure_ready()
        self._upstream = 0.0
        yield from self._count_out(self.process(self._count_in(data or ())))

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def _count_out(self, docs: Iterator[Document]) -> Iterator[Document]:
        """`docs` with the output side of the ledger and this stage's own time kept."""
        ledger = self.ledger
        t0 = time.perf_counter()
        try:
            for doc in docs:
                ledger.docs_out += 1
                ledger.bytes_out += len(doc.text.encode("utf-8", "surrogatepass"))
                ledger.seconds += time.perf_counter() - t0
                yield doc
                t0 = time.perf_counter()
        finally:
            # Time spent pulling from the stage before belongs to that stage, not this one.
            ledger.seconds += time.perf_counter() - t0 - self._upstream
            self._upstream = 0.0

    def _count_in(self, docs: Iterable[Document]) -> Iterator[Document]:
        ledger = self.ledger
        upstream = iter(docs)
        while True:
            t = time.perf_counter()
            doc = next(upstream, None)
            self._upstream += time.perf_counter() - t
            if doc is None:
                return
            ledger.docs_in += 1
            ledger.bytes_in += len(doc.text.encode("utf-8", "surrogatepass"))
            yield doc

    def __reduce__(self):
        # Rebuild from config in the worker: models loaded in setup() never travel.
        return (_rebuild, (type(self), self.config))


def _rebuild(cls: builtins.type[Stage], config: StageConfig) -> Stage:
    return cls(config)


class Filter(Stage):
    """A stage that keeps or drops each document: implement `reject` only."""

    def reject(self, doc: Document) -> str | None:
        """The drop reason, or None to keep the document."""
        return None

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            reason = self.reject(doc)
            if reason is None:
                yield doc
            else:
                self.drop(doc, reason)


@dataclass(frozen=True)
class ByteRange:
    """A part of an input file: the records that *start* in [start, end) (end None: the end of the file)."""

    start: int = 0
    end: int | None = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None

    def holds(self, offset: int) -> bool:
        return self.start <= offset and (self.end is None or offset < self.end)


WHOLE_FILE = ByteRange()


class Reader(Stage):
    """The first stage of a pipeline: reads one input file (or one byte range of it) into documents.

    `read` counts every record it sees (`self.seen`) and every record it cannot turn into a
    document (`self.drop_record`), so the reader's ledger balances like any stage's. A reader whose
    format has record boundaries it can find from any offset splits large files (`ranges`) and reads
    each part (`read_range`): every record belongs to the part its first byte is in.
    """

    @abstractmethod
    def read(self, path: str) -> Iterator[Document]:
        """Yield the documents of one input file."""

    def ranges(self, path: str, size: int) -> list[ByteRange]:
        """The parts of a file of `size` bytes, one task each (by default the whole file)."""
        return [WHOLE_FILE]

    def read_range(self, path: str, part: ByteRange) -> Iterator[Document]:
        """Yield the documents whose records start inside `part`."""
        if not part.whole:
            raise ValueError(f"{self.name} reads whole files only, not {part}")
        return self.read(path)

    @classmethod
    def expand_inputs(cls, patterns: list[str]) -> list[str]:
        """The inputs `paths` names, one task each: files by default (a reader of folders widens it)."""
        return storage.expand(patterns)

    def seen(self, nbytes: int = 0) -> None:
        self.ledger.docs_in += 1
        self.ledger.bytes_in += nbytes

    def drop_record(self, reason: str, nbytes: int = 0) -> None:
        self.ledger.drop(reason, nbytes)

    def read_counted(self, path: str, part: ByteRange = WHOLE_FILE) -> Iterator[Document]:
        """`read` (of one part) with the output side of the ledger and the time kept."""
        self._ensure_ready()
        yield from self._count_out(self.read(path) if part.whole else self.read_range(path, part))

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        # Under a datatrove executor the reader picks its files by rank, as datatrove's readers do.
        if data:
            yield from data
        for path in self.config.paths[rank::world_size]:  # type: ignore[attr-defined]
            yield from self.read_counted(path)


class GlobalStep(Stage):
    """A step that must see every shard (exact or fuzzy dedup, index builds).

    It runs in three parts: `prepare` on each task writes what the global decision needs under
    `workdir`, `resolve` makes the decision with the engine (a shuffle of files, memory bounded
    per task), and `apply` on each task acts on it. The runner calls them in that order.
    """

    workdir: str = ""
    task_id: str = ""

    def bind(self, workdir: str, task_id: str = "") -> GlobalStep:
        self.workdir, self.task_id = workdir, task_id
        return self

    def prepare(self, docs: Iterable[Document]) -> Iterator[Document]:
        yield from docs

    def resolve(self, engine, task_ids: list[str]) -> dict[str, Any]:
        """Make the global decision; returns numbers for the ledger's `extra`."""
        return {}

    def apply(self, docs: Iterable[Document]) -> Iterator[Document]:
        yield from docs

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        return self.apply(docs)
