"""The RL difficulty filter (NeMo Gym's data spec, RECIPES.md 4.3): keep the prompts the policy sometimes solves.

Each RL prompt gets k rollouts from the policy model (seeds base..base+k-1), each scored by the verifier its
reward spec names. Rollouts whose verifier failed (a math comparison that timed out, a sandbox that could not run,
a malformed spec) and rollouts the policy never answered are excluded, not scored 0. The prompt's group follows
from the rewards of the rest: `all_high` (every one 1), `all_low` (every one 0), `flat_middle` (all equal in
between) or `mixed`. Only `keep` groups whose pass rate lies in `band` go on (GRPO learns from mixed groups;
all_high ones give no gradient, all_low ones are worth auditing for label errors). Difficulty is relative to the
policy: rerun it when the policy changes. The report gets pass@k per group and per reward kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field, model_validator

from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatReply, ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import GeneratorConfig, GeneratorStage, user_text

Group = Literal["all_high", "all_low", "flat_middle", "mixed"]
# Reward reasons that mean the verifier could not decide (synthetic/verifiers): excluded, never a 0.
VERIFIER_ERRORS = {"math": ["timeout", "error"], "code": ["sandbox_error"], "ifeval": ["bad_spec"]}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def group_of(rewards: list[float]) -> str:
    """NeMo Gym's difficulty group of one prompt's rollout rewards."""
    if all(r >= 1.0 for r in rewards):
        return "all_high"
    if all(r <= 0.0 for r in rewards):
        return "all_low"
    if max(rewards) == min(rewards):
        return "flat_middle"
    return "mixed"


def rate_bucket(rate: float) -> str:
    return "1.0" if rate >= 1.0 else f"{math.floor(rate * 10) / 10:.1f}"


class DifficultyFilter(GeneratorStage):
    """RL prompts -> those whose group under the policy is kept; pass rate, rollouts and group annotated."""

    type = "difficulty_filter"

    class Config(GeneratorConfig):
        type: Literal["difficulty_filter"] = "difficulty_filter"
        k: int = Field(16, ge=1)  # NeMo Gym: 16 seeded rollouts per prompt
        # NeMo Gym samples rollouts at the policy's training temperature; 1.0 unless yours differs
        sampling: SamplingSettings = SamplingSettings(temperature=1.0, top_p=1.0, max_tokens=2048, seed=0)
        keep: list[Group] = ["mixed"]
        band: tuple[float, float] = (0.0, 1.0)  # pass rates kept, inclusive
        min_valid: int = Field(2, ge=1)  # fewer scored rollouts than this: the prompt cannot be grouped
        pass_threshold: float = Field(1.0, gt=0, le=1)  # a rollout counts as solved at or above this reward
        pass_at: list[int] = [1, 2, 4, 8, 16]  # pass@k reported for these k (those up to the rollouts made)
        verifier_errors: dict[str, list[str]] = Field(default_factory=lambda: dict(VERIFIER_ERRORS))
        verifier_threads: int = Field(4, ge=1)  # rollouts scored at once (math and code verifiers use processes)
        verifiers: dict[str, Any] = {}  # per-kind verifier configs (synthetic/verifiers: Verifiers(configs))
        examples_per_group: int = Field(2, ge=0)

        @model_validator(mode="after")
        def _band(self) -> DifficultyFilter.Config:
            lo, hi = self.band
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"band: need 0 <= low <= high <= 1, got {list(self.band)}")
            return self

    config: Config

    def applies(self, doc: Document) -> bool:
        return bool(doc.meta.get("reward_spec")) and bool(doc.meta.get("messages"))

    def setup(self) -> None:
        super().setup()
        from corpusforge.synthetic.verifiers import Verifiers

        self.verifiers = Verifiers(self.config.verifiers)
        self._examples: dict[str, int] = {}

    def close(self) -> None:
        self.verifiers.close()

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        seeds = [c.sampling.model_copy(update={"seed": (c.sampling.seed or 0) + j}) for j in range(c.k)]
        replies = self.ask([(ChatRequest(list(d.meta["messages"]), s), "policy_rollout") for d in docs for s in seeds])
        jobs = [(d, replies[n * c.k + j]) for n, d in enumerate(docs) for j in range(c.k)]
        with ThreadPoolExecutor(c.verifier_threads) as pool:
            rewards = list(pool.map(lambda job: self._reward(*job), jobs))
        for n, doc in enumerate(docs):
            yield from self._judge(doc, rewards[n * c.k : (n + 1) * c.k])

    def _reward(self, doc: Document, reply: ChatReply) -> float | str:
        """The rollout's reward, or why it is excluded."""
        if not reply.ok:
            return "policy_request_failed"
        spec = doc.meta["reward_spec"]
        try:
            reward = self.verifiers.score(reply.text, _spec(spec))
        except Exception as e:
            return f"verifier_exception:{type(e).__name__}"
        kind = _spec(spec)["kind"]
        if reward.reason in self.config.verifier_errors.get(kind, ()):
            return f"verifier_{reward.reason}"
        return reward.value

    def _judge(self, doc: Document, outcomes: list[float | str]) -> Iterator[Document]:
        c, led = self.config, self.ledger
        kind = _spec(doc.meta["reward_spec"])["kind"]
        for o in outcomes:
            if isinstance(o, str):
                led.histogram("rollouts_excluded", o)
        rewards = [o for o in outcomes if not isinstance(o, str)]
        led.count("rollouts_scored", len(rewards))
        if len(rewards) < c.min_valid:
            self.reject(doc, "too_few_valid_rollouts", doc.text)
            return
        group = group_of(rewards)
        rate = sum(rewards) / len(rewards)
        solved = sum(r >= c.pass_threshold for r in rewards)
        led.histogram("groups", group)
        led.extra.setdefault("groups_by_kind", {}).setdefault(kind, {})
        led.extra["groups_by_kind"][kind][group] = led.extra["groups_by_kind"][kind].get(group, 0) + 1
        hist = led.extra.setdefault("pass_rate_by_kind", {}).setdefault(kind, {})
        hist[rate_bucket(rate)] = hist.get(rate_bucket(rate), 0) + 1
        for stratum in ("all", group, f"kind:{kind}"):
            sums = led.extra.setdefault("pass_at_k_sum", {}).setdefault(stratum, {})
            for k in c.pass_at:
                if k <= len(rewards):
                    sums[f"pass@{k}"] = sums.get(f"pass@{k}", 0.0) + pass_at_k(len(rewards), solved, k)
                    counts = led.extra.setdefault("pass_at_k_prompts", {}).setdefault(stratum, {})
                    counts[f"pass@{k}"] = counts.get(f"pass@{k}", 0) + 1
        if self._examples.get(group, 0) < c.examples_per_group:
            self._examples[group] = self._examples.get(group, 0) + 1
            shown = ",".join(f"{r:g}" for r in rewards)
            led.extra.setdefault("examples", {})[f"{group} {kind} {doc.id[-10:]}"] = (
                f"rewards [{shown}] | {user_text(doc.meta['messages'])[:160]}"
            )
        doc.annotations.update(pass_rate=round(rate, 4), rollouts=len(rewards), difficulty=group)
        lo, hi = c.band
        if group not in c.keep:
            self.reject(doc, group, doc.text)
        elif not lo <= rate <= hi:
            self.reject(doc, "outside_band", doc.text)
        else:
            yield self.emit(doc, doc)

    @staticmethod
    def finalize_extra(extra: dict[str, Any]) -> dict[str, Any]:
        """Run-level pass@k per stratum: the merged sums over the merged prompt counts."""
        out = GeneratorStage.finalize_extra(extra)
        sums, counts = extra.get("pass_at_k_sum") or {}, extra.get("pass_at_k_prompts") or {}
        out["pass_at_k"] = {
            s: {k: round(v / counts[s][k], 4) for k, v in ks.items() if counts.get(s, {}).get(k)}
            for s, ks in sums.items()
        }
        return out


def _spec(raw: str | dict) -> dict:
    return json.loads(raw) if isinstance(raw, str) else raw
