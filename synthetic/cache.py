"""The request cache: every answered request stored under the run output, so a rerun re-sends only the rest.

Entries are keyed by prompt version, model, sampling settings and the exact input
(`ChatRequest.key`). They are grouped by request batch: a stage sends its requests in batches
that a rerun of the same task rebuilds identically, so each batch reads back only its own folder
and memory stays bounded by one batch. On a local disk each reply is appended and flushed as it
arrives (a kill loses only requests in flight); object stores cannot append, so there replies are
written as small part files every `flush_every` replies.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from typing import TextIO

from corpusforge.core import storage
from corpusforge.synthetic.backends.base import ChatReply


def _is_local(path: str) -> bool:
    fs, _ = storage.filesystem(path)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return proto in ("file", "local")


class RequestCache:
    """Replies of finished requests under `root` (local path or s3://)."""

    def __init__(self, root: str, flush_every: int = 64):
        self.root, self.flush_every = root, flush_every
        self.local = _is_local(root)
        self.writer = uuid.uuid4().hex[:12]

    def batch(self, keys: Sequence[str]) -> CacheBatch:
        """The stored replies of one request batch, open for adding the missing ones."""
        digest = hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()[:24]
        return CacheBatch(storage.join(self.root, digest[:2], digest), self)


class CacheBatch:
    """One batch's folder: replies found there, and the writer for new ones."""

    def __init__(self, folder: str, cache: RequestCache):
        self.folder, self.cache = folder, cache
        self.replies: dict[str, ChatReply] = {}
        self._buffer: list[str] = []
        self._parts = 0
        self._file: TextIO | None = None
        for path in storage.expand([storage.join(folder, "*.jsonl")]):
            for line in storage.read_bytes(path).decode("utf-8", "replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.replies[rec["key"]] = ChatReply.from_dict(rec["reply"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill

    def get(self, key: str) -> ChatReply | None:
        return self.replies.get(key)

    def put(self, key: str, reply: ChatReply) -> None:
        """Store an answered request (failed ones are not stored: a rerun tries them again)."""
        if not reply.ok:
            return
        self.replies[key] = reply
        line = json.dumps({"key": key, "reply": reply.to_dict()}, ensure_ascii=False) + "\n"
        if self.cache.local:
            if self._file is None:
                os.makedirs(self.folder, exist_ok=True)
                # held open across puts (closed in close()): one flushed append per reply
                self._file = open(os.path.join(self.folder, f"{self.cache.writer}.jsonl"), "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(line)
            self._file.flush()
        else:
            self._buffer.append(line)
            if len(self._buffer) >= self.cache.flush_every:
                self._flush_part()

    def _flush_part(self) -> None:
        if self._buffer:
            name = f"{self.cache.writer}-{self._parts:05d}.jsonl"
            storage.write_text(storage.join(self.folder, name), "".join(self._buffer))
            self._parts += 1
            self._buffer = []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._flush_part()
