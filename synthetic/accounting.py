"""LLM accounting in a stage's ledger: requests, tokens, failures by reason, latency, cost.

Everything is stored as counts and histograms in the ledger's `extra`, which add up when the
ledgers of tasks on any engine are merged; latency percentiles are read from the merged
histogram at the end of the run (`finalize`), since percentiles of parts do not add.
"""

from __future__ import annotations

import math
from typing import Any

from corpusforge.core.stats import StageStats
from corpusforge.synthetic.backends.base import ChatReply

# Latency buckets a quarter octave wide (~19%): percentiles read from them are within one bucket.
BUCKETS_PER_OCTAVE = 4


def latency_bucket(ms: float) -> str:
    """The bucket's upper bound in milliseconds, as the histogram key."""
    k = math.ceil(BUCKETS_PER_OCTAVE * math.log2(max(ms, 0.01)))
    upper = 2 ** (k / BUCKETS_PER_OCTAVE)
    return f"{upper:.0f}" if upper >= 10 else f"{upper:.2f}"


def percentile_from_histogram(hist: dict[str, int], q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile."""
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for key in sorted(hist, key=float):
        seen += hist[key]
        if seen >= q * total:
            return float(key)
    return float(max(hist, key=float))


class LLMAccounting:
    """Adds each request's figures to a ledger."""

    def __init__(
        self,
        ledger: StageStats,
        price_input_per_million: float | None = None,
        price_output_per_million: float | None = None,
    ):
        self.ledger = ledger
        self.price_in, self.price_out = price_input_per_million, price_output_per_million

    def sent(self, reply: ChatReply) -> None:
        """A request that went to the backend (answered or failed after its retries)."""
        led = self.ledger
        led.count("llm_requests")
        led.count("llm_attempts", reply.attempts)
        led.count("llm_prompt_tokens", reply.prompt_tokens)
        led.count("llm_completion_tokens", reply.completion_tokens)
        led.histogram("llm_latency_ms", latency_bucket(reply.latency_s * 1000))
        for reason, n in reply.retried.items():
            led.histogram("llm_retried", reason, n)
        if reply.error is not None:
            led.histogram("llm_failures", reply.error)
        if reply.finish_reason:
            led.histogram("llm_finish_reason", reply.finish_reason)
        if self.price_in is not None or self.price_out is not None:
            cost = (
                reply.prompt_tokens * (self.price_in or 0.0) + reply.completion_tokens * (self.price_out or 0.0)
            ) / 1e6
            led.count("llm_cost_usd", cost)

    def cached(self, n: int = 1) -> None:
        self.ledger.count("llm_cache_hits", n)

    def not_sent(self, reason: str) -> None:
        """A request dropped before sending (its prompt would not fit the model's context)."""
        self.ledger.histogram("llm_not_sent", reason)

    def seconds(self, s: float) -> None:
        self.ledger.count("llm_wall_seconds", s)


def finalize(extra: dict[str, Any]) -> dict[str, Any]:
    """Figures that do not add across tasks, computed once from the merged ledger."""
    out: dict[str, Any] = {}
    hist = extra.get("llm_latency_ms") or {}
    for q in (50, 90, 99):
        p = percentile_from_histogram(hist, q / 100)
        if p is not None:
            out[f"llm_latency_p{q}_ms"] = p
    if extra.get("llm_wall_seconds"):
        out["llm_completion_tokens_per_worker_s"] = round(
            extra.get("llm_completion_tokens", 0) / extra["llm_wall_seconds"], 2
        )
    if "llm_cost_usd" in extra:
        out["llm_cost_usd"] = round(extra["llm_cost_usd"], 6)
    return out
