"""Self-Instruct (Wang et al. 2023; RECIPES.md 4.2): new instructions bootstrapped from a pool of seed tasks.

Per round, each request shows a few instructions drawn from the pool (seed tasks and, after the first round,
generated ones) and asks for more. A new instruction joins the pool only if it passes the paper's filters: a
length of 3-150 words, no keyword that asks for what a text model cannot do (images, files, ...), no leading
punctuation or non-ASCII opening, and ROUGE-L below 0.7 against every instruction already in the pool.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpusforge.core.document import Document
from corpusforge.synthetic.generation import (
    GeneratorConfig,
    GeneratorStage,
    is_seed,
    parse_list,
    reply_reason,
    seed_record,
)
from corpusforge.synthetic.similarity import RougePool

# Self-Instruct's blacklist (its `generate_instructions.py`): things a text-only model cannot see or make.
BANNED_KEYWORDS = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)


class SelfInstructSeed(BaseModel):
    """The seed tasks and how many rounds and requests to run on them."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["self_instruct"] = "self_instruct"
    category: str = "general"
    tasks: list[str] = Field(min_length=1)
    rounds: int = Field(1, ge=1)
    requests_per_round: int = Field(2, ge=1)
    n_examples: int = Field(6, ge=1)  # the paper: 8 in-context instructions, 6 human-written and 2 generated
    n_generated_examples: int = Field(2, ge=0)
    n_new: int = Field(8, ge=1)  # new instructions asked for per request


class SelfInstruct(GeneratorStage):
    """Seeds `seed/self_instruct` -> new instructions, novel against the growing pool."""

    type = "self_instruct"
    config: Config
    prompt_prefix = "self_instruct"

    class Config(GeneratorConfig):
        type: Literal["self_instruct"] = "self_instruct"
        rouge_threshold: float = Field(0.7, gt=0, le=1)  # Self-Instruct: kept only if ROUGE-L < 0.7 against all
        banned_keywords: list[str] = list(BANNED_KEYWORDS)

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "self_instruct")

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        banned = (
            re.compile(r"\b(" + "|".join(map(re.escape, c.banned_keywords)) + r")\b", re.IGNORECASE)
            if c.banned_keywords
            else None
        )
        state: list[tuple[Document, SelfInstructSeed, RougePool, list[str]]] = []
        for doc in docs:
            try:
                seed = SelfInstructSeed(**seed_record(doc))
            except (ValidationError, ValueError, TypeError):
                self.fail(doc, "invalid_seed")
                continue
            state.append((doc, seed, RougePool(seed.tasks), []))
        rounds = max((s.rounds for _, s, _, _ in state), default=0)
        for r in range(rounds):
            asked = [
                (doc, seed, pool, made, i)
                for doc, seed, pool, made in state
                if r < seed.rounds
                for i in range(seed.requests_per_round)
            ]
            requests = [
                self.request(
                    "new_tasks", variant=f"{r}.{i}", n=str(seed.n_new), examples=self._examples(doc, seed, made, r, i)
                )
                for doc, seed, _, made, i in asked
            ]
            for (doc, seed, pool, made, _), reply in zip(asked, self.ask(requests)):
                candidates = parse_list(reply.text) if reply.ok else []
                if not candidates:
                    self.fail(doc, "no_instructions")
                    self.step_failed("new_tasks", reply_reason(reply) or "unparsed_list")
                for text in candidates:
                    reason = self._reason(text, pool, banned)
                    if reason:
                        self.reject(doc, reason, text)
                        continue
                    pool.add(text)
                    made.append(text)
                    step = self.step_record("new_tasks")
                    step["round"] = r
                    yield self.emit(
                        doc,
                        self.item(
                            doc,
                            [{"role": "user", "content": text}],
                            "self_instruct",
                            seed.category,
                            [step],
                            inherit_steps=False,
                        ),
                    )

    def _examples(self, doc: Document, seed: SelfInstructSeed, made: list[str], r: int, i: int) -> str:
        """The in-context instructions of one request: seed tasks and a few generated ones, numbered."""
        rng = random.Random(f"{doc.id}/{r}/{i}")
        n_gen = min(seed.n_generated_examples, len(made))
        picked = rng.sample(seed.tasks, min(seed.n_examples - n_gen, len(seed.tasks))) + rng.sample(made, n_gen)
        listed = "\n".join(f"{k}. {t}" for k, t in enumerate(picked, 1))
        return f"Examples:\n{listed}\n\nWrite {seed.n_new} new tasks, numbered from {len(picked) + 1}."

    def _reason(self, text: str, pool: RougePool, banned: re.Pattern | None) -> str | None:
        reason = self.length_reason(text)
        if reason:
            return reason
        if banned is not None and banned.search(text):
            return "banned_keyword"
        if not text[0].isascii() or not text[0].isalnum():
            return "bad_opening"
        if pool.most_similar(text, self.config.rouge_threshold) >= self.config.rouge_threshold:
            return "too_similar"
        return None
