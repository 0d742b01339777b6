"""The stats ledger: per stage, documents and bytes in and out, drops by reason, time.

Every stage keeps `docs_in == docs_out + sum(dropped)`; ledgers from tasks on any engine
merge by plain addition, so the driver's totals do not depend on how work was split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageStats:
    """What one stage did in one task (or, merged, in the whole run)."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    dropped_bytes: Counter = field(default_factory=Counter)
    # Numbers a stage reports beyond the ledger (clusters found, histograms, ...): counts
    # and histograms add when merged.
    extra: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, nbytes: int = 0) -> None:
        self.dropped[reason] += 1
        self.dropped_bytes[reason] += nbytes

    def count(self, key: str, value: float = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + value

    def histogram(self, key: str, bucket: str | int, value: int = 1) -> None:
        hist = self.extra.setdefault(key, {})
        hist[str(bucket)] = hist.get(str(bucket), 0) + value

    @property
    def docs_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.docs_in == self.docs_out + self.docs_dropped

    def merge(self, other: StageStats) -> StageStats:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.dropped.update(other.dropped)
        self.dropped_bytes.update(other.dropped_bytes)
        self.extra = _merge_extra(self.extra, other.extra)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "docs_dropped": self.docs_dropped,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 4),
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_bytes": dict(sorted(self.dropped_bytes.items())),
            "balanced": self.balanced,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(
            d["name"],
            d["docs_in"],
            d["docs_out"],
            d["bytes_in"],
            d["bytes_out"],
            d["seconds"],
            Counter(d.get("dropped", {})),
            Counter(d.get("dropped_bytes", {})),
            dict(d.get("extra", {})),
        )


def _merge_extra(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = _merge_extra(out[k], v)
        elif isinstance(v, (int, float)) and isinstance(out[k], (int, float)):
            out[k] = out[k] + v
        elif isinstance(v, list) and isinstance(out[k], list):
            out[k] = (out[k] + v)[:50]  # examples: keep a bounded sample
        else:
            out[k] = v
    return out


def merge_ledgers(ledgers: Iterable[list[StageStats]]) -> list[StageStats]:
    """Merge per-task ledgers (lists of StageStats in stage order) into one, keeping order."""
    merged: dict[str, StageStats] = {}
    for ledger in ledgers:
        for s in ledger:
            if s.name in merged:
                merged[s.name].merge(s)
            else:
                merged[s.name] = StageStats.from_dict(s.to_dict())
    return list(merged.values())
