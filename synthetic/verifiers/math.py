"""Math rewards: the response's final answer against the reference, equivalence decided by math-verify.

As NeMo Gym's math_with_judge (RECIPES.md 4.3): the gold answer is wrapped as `\\boxed{gold}` and parsed with
LaTeX extraction, the prediction with expression and LaTeX extraction, and `verify(gold, pred)` decides. Both
go through our normalisation first (units, currency, spacing, thousands separators). SymPy can hang, so the
comparison runs in a pool of worker processes with a hard timeout: timeout -> reward 0, reason "timeout".
"""

from __future__ import annotations

import logging
import os

from pydantic import BaseModel, Field

from corpusforge.synthetic.verifiers.base import MathSpec, Reward, Verifier, spec_of
from corpusforge.synthetic.verifiers.math_answer import (
    extract_answer,
    normalize_answer,
    reference_answer,
)
from corpusforge.synthetic.verifiers.worker_pool import (
    WorkerFailed,
    WorkerPool,
    WorkerTimeout,
)


class _TimeoutLog(logging.Handler):
    """math-verify reports its own (signal-based) timeouts only as a log line and a False; this notices them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = self.seen or record.getMessage().startswith("Timeout during")


_TIMEOUTS = _TimeoutLog()


def equivalent(gold: str, pred: str, timeout_s: int, float_rounding: int) -> str:
    """math-verify's verdict on two normalised answers: "equal", "different" or "timeout" (in a worker)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    logger = logging.getLogger("math_verify")
    if _TIMEOUTS not in logger.handlers:
        logger.addHandler(_TIMEOUTS)
        logger.propagate = False  # the verdict carries the timeout; no log spam from workers
    _TIMEOUTS.seen = False
    gold_parsed = parse(f"$\\boxed{{{gold}}}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=timeout_s)
    pred_parsed = parse(
        f"$\\boxed{{{pred}}}$",
        extraction_config=[ExprExtractionConfig(), LatexExtractionConfig()],
        parsing_timeout=timeout_s,
    )
    if _TIMEOUTS.seen:
        return "timeout"
    if not gold_parsed or not pred_parsed:
        same = gold.replace(" ", "") == pred.replace(" ", "")
    else:
        same = verify(gold_parsed, pred_parsed, float_rounding=float_rounding, timeout_seconds=timeout_s)
    return "equal" if same else ("timeout" if _TIMEOUTS.seen else "different")


class MathVerifierConfig(BaseModel):
    """Timeouts from NeMo Gym math_with_judge (`library_verifier_timeout_seconds` 10)."""

    timeout_s: float = Field(10.0, gt=0)  # hard limit per comparison; the worker is killed past it
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), gt=0)
    # Decimal places numbers are rounded to before comparing. math-verify's default, 6, accepts wrong answers
    # that differ only below 1e-6 (MATH-500 has answers like .0000672); 10 keeps exact decimals exact.
    float_rounding: int = Field(10, ge=1)


class MathVerifier(Verifier):
    """Reward 1.0 when the response's final answer equals the reference answer, else 0.0 with a reason."""

    kind = "math"

    def __init__(self, config: MathVerifierConfig | None = None):
        self.config = config or MathVerifierConfig()
        self.pool = WorkerPool(f"{__name__}:equivalent", size=self.config.workers, timeout_s=self.config.timeout_s)

    def score(self, response: str, spec: MathSpec | dict) -> Reward:
        """Extract the final answer of `response` and compare it with `spec.answer`."""
        spec = spec_of(spec, MathSpec)
        answer = extract_answer(response)
        if answer is None or not answer.strip():
            return Reward(0.0, False, "no_answer", {})
        gold = normalize_answer(reference_answer(spec.answer))
        pred = normalize_answer(answer)
        details = {"extracted": answer, "gold": gold, "pred": pred}
        # math-verify's own signal-based timeout fires first; the pool's hard kill is the backstop.
        inner = max(1, int(self.config.timeout_s) - 1)
        try:
            verdict = self.pool.call(gold, pred, inner, self.config.float_rounding, timeout_s=self.config.timeout_s)
        except WorkerTimeout:
            return Reward(0.0, False, "timeout", details)
        except WorkerFailed as exc:
            return Reward(0.0, False, "error", {**details, "error": str(exc)})
        if verdict == "equal":
            return Reward(1.0, True, "correct", details)
        return Reward(0.0, False, "timeout" if verdict == "timeout" else "wrong_answer", details)

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.close()
