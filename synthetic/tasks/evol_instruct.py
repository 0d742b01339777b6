"""Evol-Instruct (WizardLM, Xu et al. 2023; RECIPES.md 4.2): prompts rewritten harder (in depth) or wider (in breadth).

Each chosen prompt gets one operator, picked by a hash of its id: the in-depth ones add a constraint, deepen,
concretise, ask for more reasoning steps or add a concrete input; in-breadth writes a new, rarer prompt of the same
domain. Run the stage twice for two generations. The failed-evolution eliminator drops a rewrite that gains no
information (the model judges the pair equal, or it barely differs), that copies the rewriting template's words,
that is only punctuation and stop words, that grows by more words than an in-depth step may add, or (with
`check_response`) whose answer is a short apology.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

import xxhash
from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.synthetic.generation import (
    GeneratorConfig,
    GeneratorStage,
    is_prompt,
    user_text,
    yes_no,
)
from corpusforge.synthetic.similarity import rouge_l, tokens

DEPTH = ("constraints", "deepen", "concretize", "reasoning", "complicate_input")
BREADTH = "breadth"
# Words of the rewriting prompt that a failed evolution copies into its output.
TEMPLATE_WORDS = re.compile(r"#?(given|rewritten|created|new) prompt#?|#\w+ prompt#", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(rewritten|new|evolved|created)?\s*prompt\s*:\s*", re.IGNORECASE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "so",
        "than",
        "too",
        "very",
        "can",
        "will",
        "just",
    ]
)


class EvolInstruct(GeneratorStage):
    """Prompts -> evolved prompts (one operator each), failed evolutions dropped by name."""

    type = "evol_instruct"
    prompt_prefix = "evol_instruct"

    class Config(GeneratorConfig):
        type: Literal["evol_instruct"] = "evol_instruct"
        # WizardLM draws among the five in-depth operators and in-breadth; complicate_input suits code prompts
        operators: list[Literal["constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth"]] = [
            "constraints",
            "deepen",
            "concretize",
            "reasoning",
            "breadth",
        ]
        methods: list[str] = []  # evolve prompts made by these methods (empty: all)
        categories: list[str] = []  # ... and of these categories (empty: all)
        fraction: float = Field(1.0, gt=0, le=1)  # of the matching prompts, chosen by id hash
        keep_parents: bool = True  # the prompt that was evolved stays in the set
        max_added_words: int | None = Field(40, ge=1)  # in-depth: WizardLM lets a step add 10-20 words
        equal_check: bool = True  # ask the model whether the rewrite asks for the same as before
        no_gain_rouge: float = Field(0.95, gt=0, le=1)  # at or above this ROUGE-L to its parent: no gain
        check_response: bool = False  # answer the rewrite; a short apology (< 80 words, "sorry") eliminates it

    config: Config

    def applies(self, doc: Document) -> bool:
        c = self.config
        # closed-QA prompts stay as they are: a rewrite would lose the passage they are about
        return (
            is_prompt(doc)
            and not doc.meta.get("reward_spec")
            and not doc.meta.get("context")
            and (not c.methods or doc.meta.get("method") in c.methods)
            and (not c.categories or doc.meta.get("category") in c.categories)
            and self._chosen(doc)
        )

    def _chosen(self, doc: Document) -> bool:
        return xxhash.xxh64_intdigest(f"evol/{doc.id}".encode()) / 2**64 < self.config.fraction

    def _operator(self, doc: Document) -> str:
        ops = self.config.operators
        return ops[xxhash.xxh64_intdigest(f"op/{doc.id}".encode()) % len(ops)]

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        chosen = docs
        if c.keep_parents:
            for doc in docs:
                yield self.emit(doc, doc)
        ops = {d.id: self._operator(d) for d in chosen}
        replies = self.ask([self.request(ops[d.id], prompt=user_text(d.meta["messages"])) for d in chosen])
        evolved = []
        for doc, reply in zip(chosen, replies):
            text, reason = self.reply_text(reply)
            text = _LABEL.sub("", text).strip().strip('"').strip()
            reason = reason or self._eliminate(doc, text, ops[doc.id])
            if reason:
                self.reject(doc, reason, text)
            else:
                evolved.append((doc, text))
        evolved = self._equal_check(evolved) if c.equal_check else evolved
        evolved = self._response_check(evolved) if c.check_response else evolved
        for doc, text in evolved:
            step = self.step_record(ops[doc.id])
            step["operator"] = ops[doc.id]
            yield self.emit(
                doc,
                self.item(
                    doc,
                    [{"role": "user", "content": text}],
                    "evol_instruct",
                    doc.meta.get("category", "general"),
                    [step],
                ),
            )

    def _eliminate(self, doc: Document, text: str, op: str) -> str | None:
        parent = user_text(doc.meta["messages"])
        words = tokens(text)
        if not words or all(w in STOPWORDS for w in words):
            return "only_stopwords"
        if TEMPLATE_WORDS.search(text):
            return "template_copied"
        if rouge_l(parent, text) >= self.config.no_gain_rouge:
            return "no_information_gain"
        limit = self.config.max_added_words
        if op in DEPTH and limit is not None and len(text.split()) - len(parent.split()) > limit:
            return "too_many_added_words"
        return self.length_reason(text)

    def _equal_check(self, evolved: list[tuple[Document, str]]) -> list[tuple[Document, str]]:
        """WizardLM's first elimination rule: the model says the rewrite asks for the same as its parent."""
        replies = self.ask([self.request("equal", first=user_text(d.meta["messages"]), second=t) for d, t in evolved])
        out = []
        for (doc, text), reply in zip(evolved, replies):
            if reply.ok and yes_no(reply.text) is True:
                self.reject(doc, "no_information_gain", text)
            else:
                out.append((doc, text))
        return out

    def _response_check(self, evolved: list[tuple[Document, str]]) -> list[tuple[Document, str]]:
        """WizardLM's second rule: the rewrite's answer says sorry and is short (under 80 words)."""
        from corpusforge.synthetic.backends.base import ChatRequest

        settings = self.config.sampling.model_copy(update={"max_tokens": 128})
        replies = self.ask(
            [(ChatRequest([{"role": "user", "content": t}], settings), "evol_response_check") for _, t in evolved]
        )
        out = []
        for (doc, text), reply in zip(evolved, replies):
            if reply.ok and "sorry" in reply.text.lower() and len(reply.text.split()) < 80:
                self.reject(doc, "unanswerable_evolution", text)
            else:
                out.append((doc, text))
        return out
