"""A test stage that crashes its task the first time it meets a given document, as a killed worker would.

A pipeline names it by dotted path (`type: crash_once:CrashOnce`). The crash happens mid-shard, after the task
has started writing; the marker file makes the second try pass, so a retry shows what a real retry does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig


class CrashOnce(Stage):
    """Passes every document on; raises once, at `crash_at`, unless `marker` already exists (then creates it)."""

    type = "crash_once:CrashOnce"
    config: Config

    class Config(StageConfig):
        crash_at: str  # a document id
        marker: str  # a local file: present after the crash

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if doc.id == self.config.crash_at and not os.path.exists(self.config.marker):
                with open(self.config.marker, "w") as f:
                    f.write(doc.id)
                raise RuntimeError(f"injected crash at {doc.id}")
            yield doc
