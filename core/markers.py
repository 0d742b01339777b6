"""Completion markers: the one way every unit of work says "committed" (runner tasks, shuffle steps and their
reduce tasks, global steps, token caches, shards, the tokenizer).

A unit writes its outputs under temporary names and renames them into place; only then does it write its
marker, `<unit>.done.json`, a small JSON payload written atomically. The marker is the commit: a unit whose
marker exists is done, and its payload (counts, checksums, a ledger) is what a rerun returns instead of redoing
the work. A unit is named by a path prefix: a file stem (`phase1/shard_00000` beside its `.bin`/`.idx`) or a
folder (`candidates`, whose marker `candidates.done.json` sits beside it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from corpusforge.core import storage

SUFFIX = ".done.json"
T = TypeVar("T")


def marker_path(unit: str) -> str:
    """Where the marker of `unit` lives."""
    return unit.rstrip("/") + SUFFIX


def committed(unit: str) -> Any | None:
    """The payload of a committed unit, or None when it has not committed."""
    path = marker_path(unit)
    if not storage.exists(path):
        return None
    return json.loads(storage.read_text(path))


def is_committed(unit: str) -> bool:
    return storage.exists(marker_path(unit))


def commit(unit: str, payload: T) -> T:
    """Mark `unit` done with a JSON payload (call only after its outputs are in place); returns the payload."""
    storage.write_text(marker_path(unit), json.dumps(payload))
    return payload


def once(unit: str, work: Callable[[], T]) -> T:
    """`work()` committed under `unit`, or the payload of an earlier commit (then `work` does not run)."""
    done = committed(unit)
    if done is not None:
        return done
    return commit(unit, work())


def uncommit(unit: str) -> None:
    """Withdraw a unit's commit (its outputs are about to be replaced)."""
    storage.remove(marker_path(unit))
