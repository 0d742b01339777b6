"""Verifiers that decide RL rewards: math answers, code in a sandbox, instruction following.

    from corpusforge.synthetic.verifiers import Verifiers
    verifiers = Verifiers()
    reward = verifiers.score(response, {"kind": "math", "answer": "\\frac{1}{2}"})   # Reward(value, passed, ...)

A spec's `kind` ("math", "code", "ifeval") picks the verifier; each is built on first use and reused.
"""

from __future__ import annotations

import threading
from typing import Any

from corpusforge.synthetic.verifiers.base import (
    CodeSpec,
    IFEvalSpec,
    MathSpec,
    Reward,
    RewardSpec,
    Verifier,
    parse_spec,
)

__all__ = ["CodeSpec", "IFEvalSpec", "MathSpec", "Reward", "RewardSpec", "Verifier", "Verifiers", "parse_spec"]


def _build(kind: str, config: Any) -> Verifier:
    if kind == "math":
        from corpusforge.synthetic.verifiers.math import MathVerifier

        return MathVerifier(config)
    if kind == "code":
        from corpusforge.synthetic.verifiers.code import CodeVerifier

        return CodeVerifier(config)
    if kind == "ifeval":
        from corpusforge.synthetic.verifiers.ifeval import IFEvalVerifier

        return IFEvalVerifier()
    raise ValueError(f"no verifier for kind {kind!r} (known: math, code, ifeval)")


class Verifiers:
    """Dispatches `score(response, spec)` to the verifier of the spec's kind (thread-safe)."""

    def __init__(self, configs: dict[str, Any] | None = None):
        self.configs = configs or {}
        self._verifiers: dict[str, Verifier] = {}
        self._lock = threading.Lock()

    def get(self, kind: str) -> Verifier:
        """The verifier for `kind`, built on first use."""
        with self._lock:
            if kind not in self._verifiers:
                self._verifiers[kind] = _build(kind, self.configs.get(kind))
            return self._verifiers[kind]

    def score(self, response: str, spec: RewardSpec | dict) -> Reward:
        """The reward for `response` under `spec` (a spec model or a dict with `kind`)."""
        spec = parse_spec(spec)
        return self.get(spec.kind).score(response, spec)

    def close(self) -> None:
        """Stop every verifier's worker processes and threads."""
        with self._lock:
            for verifier in self._verifiers.values():
                verifier.close()
