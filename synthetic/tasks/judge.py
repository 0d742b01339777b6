"""Quality gates on SFT items: an LLM judge or reward model scores each answer; closed-QA prompts must be answerable.

The judge has three modes:
- `reward_model`: a reward model served behind an OpenAI-compatible endpoint returns one entry per attribute in
  `choices[0].logprobs.content` (token = attribute name, logprob = its score), as NeMo Curator's
  `query_reward_model` reads Nemotron-4-340B-Reward; a reply without them is dropped as `judge_no_logprobs`.
- `rating_logprobs`: one request per attribute asks for a single 0-4 digit; the score is the expectation over the
  digit tokens' probabilities at the first generated position (G-Eval), from the top-N logprobs that the
  embedded backend and OpenAI-compatible servers return. Even a small judge gives a usable distribution there.
- `rating`: one request asks for every attribute as `attribute: N` lines, the written digits parsed (for
  backends that return no logprobs).
Scores go to `annotations.scores` as `judge_<attribute>`; items under `min_scores` are dropped by attribute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatReply, ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import GeneratorConfig, GeneratorStage, is_prompt, reply_reason, yes_no

# HelpSteer2's attributes: what Nemotron-4-340B-Reward scores (0-4 each), and what each means to the judge.
HELPSTEER_ATTRIBUTES = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
MEANINGS = {
    "helpfulness": "how well it does what was asked",
    "correctness": "whether what it states is true and relevant",
    "coherence": "how clear and consistent it is",
    "complexity": "the depth of knowledge it shows",
    "verbosity": "whether its length suits the request; 4 means just right",
}


def _last_user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def parse_ratings(text: str, attributes: list[str], top: int) -> dict[str, float]:
    """`attribute: N` lines of a judge's reply (N in 0..top); attributes it did not rate are left out."""
    out = {}
    for attr in attributes:
        m = re.search(rf"{re.escape(attr)}\W{{0,3}}\s*(\d+(?:\.\d+)?)", text, re.IGNORECASE)
        if m and 0 <= float(m.group(1)) <= top:
            out[attr] = float(m.group(1))
    return out


def digit_expectation(entry: dict[str, Any], top: int) -> float | None:
    """The probability-weighted digit 0..top at one generated position (None when no digit is among the top-N)."""
    weights: dict[int, float] = {}
    for tok, lp in {**entry.get("top", {}), entry["token"]: entry["logprob"]}.items():
        d = tok.strip()
        if d.isdigit() and 0 <= int(d) <= top:
            weights[int(d)] = weights.get(int(d), 0.0) + math.exp(lp)
    total = sum(weights.values())
    return sum(d * w for d, w in weights.items()) / total if total else None


class LLMJudge(GeneratorStage):
    """SFT items -> the same items with judge scores; those under the thresholds dropped."""

    type = "llm_judge"
    config: Config
    prompt_prefix = "judge"

    class Config(GeneratorConfig):
        type: Literal["llm_judge"] = "llm_judge"
        mode: Literal["rating", "rating_logprobs", "reward_model"] = "rating_logprobs"
        attributes: list[str] = list(HELPSTEER_ATTRIBUTES)
        max_score: int = Field(4, ge=1)  # HelpSteer2's 0-4 scale
        min_scores: dict[str, float] = {}  # attribute -> lowest kept score (none: score only, drop nothing)
        top_logprobs: int = Field(20, ge=1, le=20)  # OpenAI's maximum; no digit among them: judge_unparsed
        sampling: SamplingSettings = SamplingSettings(temperature=0.0, max_tokens=48)  # rating and reward_model

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_prompt(doc) and not doc.meta.get("reward_spec") and doc.meta["messages"][-1]["role"] == "assistant"

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        if c.mode == "reward_model":
            requests = [(ChatRequest(list(d.meta["messages"]), c.sampling), "reward_model") for d in docs]
            per_doc = 1
        elif c.mode == "rating":
            requests = [
                self.request(
                    "rating", prompt=_last_user(d.meta["messages"]), response=d.meta["messages"][-1]["content"]
                )
                for d in docs
            ]
            per_doc = 1
        else:
            one_digit = c.sampling.model_copy(update={"max_tokens": 1, "logprobs": c.top_logprobs, "temperature": 0.0})
            requests = [
                self.request(
                    "score",
                    one_digit,
                    prompt=_last_user(d.meta["messages"]),
                    response=d.meta["messages"][-1]["content"],
                    attribute=a,
                    meaning=MEANINGS.get(a, a),
                )
                for d in docs
                for a in c.attributes
            ]
            per_doc = len(c.attributes)
        replies = self.ask(requests)
        for n, doc in enumerate(docs):
            scores, reason = self._scores(replies[n * per_doc : (n + 1) * per_doc])
            if reason is None:
                reason = next((f"judge_low_{a}" for a, low in c.min_scores.items() if scores.get(a, -1.0) < low), None)
            for attr, value in scores.items():
                self.ledger.histogram(f"judge_{attr}", f"{math.floor(value * 2) / 2:.1f}")
            if reason:
                self.reject(doc, reason, doc.text)
                continue
            doc.annotations["scores"] = {
                **(doc.annotations.get("scores") or {}),
                **{f"judge_{a}": round(v, 4) for a, v in scores.items()},
            }
            yield self.emit(doc, doc)

    def _scores(self, replies: list[ChatReply]) -> tuple[dict[str, float], str | None]:
        c = self.config
        failed = next((reply_reason(r) for r in replies if reply_reason(r)), None)
        if failed:
            return {}, f"judge_{failed}"
        if c.mode == "reward_model":
            if not replies[0].logprobs:
                return {}, "judge_no_logprobs"
            scores = {e["token"]: e["logprob"] for e in replies[0].logprobs if e["token"] in c.attributes}
        elif c.mode == "rating":
            scores = parse_ratings(replies[0].text, c.attributes, c.max_score)
        else:
            if not all(r.logprobs for r in replies):
                return {}, "judge_no_logprobs"
            values = {a: digit_expectation((r.logprobs or [{}])[0], c.max_score) for a, r in zip(c.attributes, replies)}
            scores = {a: v for a, v in values.items() if v is not None}
        if len(scores) < len(c.attributes):
            return scores, "judge_unparsed"
        return scores, None


class Answerability(GeneratorStage):
    """Closed-QA prompts -> those the judge says can be answered from their passage (Curator's AnswerabilityFilter)."""

    type = "answerability"
    config: Config
    prompt_prefix = "answerability"

    class Config(GeneratorConfig):
        type: Literal["answerability"] = "answerability"
        sampling: SamplingSettings = SamplingSettings(temperature=0.0, max_tokens=8)

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_prompt(doc) and bool(doc.meta.get("context")) and len(doc.meta["messages"]) == 1

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        questions = [d.text for d in docs]  # closed QA: the question alone (the passage is `meta.context`)
        replies = self.ask(
            [self.request("check", context=d.meta["context"], question=q) for d, q in zip(docs, questions)]
        )
        for doc, reply in zip(docs, replies):
            verdict = yes_no(reply.text) if reply.ok else None
            if verdict is not True:
                reason = reply_reason(reply) or ("unanswerable" if verdict is False else "answerability_unparsed")
                self.reject(
                    doc,
                    reason if reason.startswith(("unanswerable", "answerability")) else f"answerability_{reason}",
                    doc.text,
                )
                continue
            yield self.emit(doc, doc)
