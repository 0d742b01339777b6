"""Topic trees (NeMo Curator's open QA, writing, math and coding generators, RECIPES.md 4.1).

Per seed: macro topics (given in the seed, or asked for) -> subtopics of each -> for math and coding a Yes/No
check that the subtopic is one -> questions, writing tasks or problems about each subtopic -> for open QA and
writing, a revise step that adds context or requirements. Every request is one round over the whole batch of
seeds; replies are parsed as lists by rule (numbered or bulleted lines), where Curator asks the model a second time
to turn each list into YAML.
"""

from __future__ import annotations

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
    yes_no,
)

Category = Literal["open_qa", "writing", "math", "coding"]


class TopicSeed(BaseModel):
    """One topic tree: its category, the breadth of each level, and the category's own settings."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["topic_tree"] = "topic_tree"
    category: Category
    macro_topics: list[str] = []  # given: the macro step is skipped
    n_macro_topics: int = Field(3, ge=1)
    n_subtopics: int = Field(2, ge=1)
    n_questions: int = Field(2, ge=1)
    n_revisions: int = Field(1, ge=0)  # open QA and writing only (Curator revises those)
    check_topics: bool = True  # math and coding: drop subtopics the model does not confirm (Curator's Yes/No)
    school_level: str = "middle school"
    language: str = "Python"
    level: Literal["beginner", "intermediate", "advanced"] = "beginner"
    material_types: list[str] = ["short story", "poem", "essay", "email", "product description"]


class _Branch:
    """A path down the tree: the seed, the topic at its end and the steps that made it."""

    def __init__(self, doc: Document, seed: TopicSeed, topic: str, steps: list[dict], material: str = ""):
        self.doc, self.seed, self.topic, self.steps, self.material = doc, seed, topic, steps, material


class TopicTreePrompts(GeneratorStage):
    """Seeds `seed/topic_tree` -> questions, writing tasks, math and coding problems."""

    type = "topic_prompts"
    prompt_prefix = "topics"

    class Config(GeneratorConfig):
        type: Literal["topic_prompts"] = "topic_prompts"

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "topic_tree")

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        branches = self._macro(docs)
        branches = self._expand(
            branches,
            "subtopics",
            lambda b: {"n": str(b.seed.n_subtopics), "topic": b.topic},
            lambda b: b.seed.n_subtopics,
        )
        branches = self._check(branches)
        questions = self._questions(branches)
        questions = self._revise(questions)
        for b in questions:
            reason = self.length_reason(b.topic)
            if reason:
                self.reject(b.doc, reason, b.topic)
                continue
            yield self.emit(
                b.doc,
                self.item(
                    b.doc,
                    [{"role": "user", "content": b.topic}],
                    "topic_tree",
                    b.seed.category,
                    b.steps,
                    inherit_steps=False,
                ),
            )

    def _macro(self, docs: list[Document]) -> list[_Branch]:
        out, asked = [], []
        for doc in docs:
            try:
                seed = TopicSeed(**seed_record(doc))
            except (ValidationError, ValueError, TypeError):
                self.fail(doc, "invalid_seed")
                continue
            if seed.macro_topics:
                given = {"step": f"{self.name}.macro", "prompt": "given", "model": "", "sampling": ""}
                out += [_Branch(doc, seed, t, [given]) for t in seed.macro_topics[: seed.n_macro_topics]]
            else:
                asked.append(_Branch(doc, seed, "", []))
        step = {b: "macro_" + ("open_qa" if b.seed.category == "writing" else b.seed.category) for b in asked}
        requests = [
            self.request(
                step[b], n=str(b.seed.n_macro_topics), school_level=b.seed.school_level, language=b.seed.language
            )
            for b in asked
        ]
        for b, reply in zip(asked, self.ask(requests)):
            topics = parse_list(reply.text) if reply.ok else []
            if not topics:
                self.fail(b.doc, "no_macro_topics")
                self.step_failed("macro", reply_reason(reply) or "unparsed_list")
            out += [_Branch(b.doc, b.seed, t, [self.step_record(step[b])]) for t in topics[: b.seed.n_macro_topics]]
        return out

    def _expand(self, branches: list[_Branch], step: str, fields, breadth) -> list[_Branch]:
        """One level down: each branch's reply parsed as a list, `breadth(branch)` items kept."""
        replies = self.ask([self.request(step, **fields(b)) for b in branches])
        out = []
        for b, reply in zip(branches, replies):
            items = parse_list(reply.text) if reply.ok else []
            if not items:
                self.fail(b.doc, f"no_{step}")
                self.step_failed(step, reply_reason(reply) or "unparsed_list")
            out += [
                _Branch(b.doc, b.seed, t, b.steps + [self.step_record(step)], b.material) for t in items[: breadth(b)]
            ]
        return out

    def _check(self, branches: list[_Branch]) -> list[_Branch]:
        """Math and coding subtopics the model confirms are of that kind (Curator's Yes/No step)."""
        asked = [b for b in branches if b.seed.category in ("math", "coding") and b.seed.check_topics]
        kind = {"math": "mathematics", "coding": "computer programming"}
        replies = self.ask([self.request("check", topic=b.topic, kind=kind[b.seed.category]) for b in asked])
        verdict = {id(b): (yes_no(r.text) if r.ok else None) for b, r in zip(asked, replies)}
        out = []
        for b in branches:
            if id(b) not in verdict:
                out.append(b)
            elif verdict[id(b)]:
                out.append(_Branch(b.doc, b.seed, b.topic, b.steps + [self.step_record("check")]))
            else:
                self.fail(b.doc, f"not_a_{b.seed.category}_topic")
                self.ledger.histogram("topics_rejected_by_check", b.seed.category)
        return out

    def _questions(self, branches: list[_Branch]) -> list[_Branch]:
        for i, b in enumerate(branches):
            if b.seed.category == "writing":
                b.material = b.seed.material_types[i % len(b.seed.material_types)]
        requests = [
            self.request(
                f"questions_{b.seed.category}",
                n=str(b.seed.n_questions),
                topic=b.topic,
                school_level=b.seed.school_level,
                language=b.seed.language,
                level=b.seed.level,
                material=b.material,
            )
            for b in branches
        ]
        out = []
        for b, reply in zip(branches, self.ask(requests)):
            items = parse_list(reply.text) if reply.ok else []
            if not items:
                self.fail(b.doc, "no_questions")
                self.step_failed("questions", reply_reason(reply) or "unparsed_list")
            step = self.step_record(f"questions_{b.seed.category}")
            out += [_Branch(b.doc, b.seed, q, b.steps + [step], b.material) for q in items[: b.seed.n_questions]]
        return out

    def _revise(self, questions: list[_Branch]) -> list[_Branch]:
        """Open QA and writing: `n_revisions` rewrites of each (sampled with seeds 0..n-1), which replace it."""
        asked = [
            (b, r) for b in questions if b.seed.category in ("open_qa", "writing") for r in range(b.seed.n_revisions)
        ]
        settings = {
            r: self.config.sampling.model_copy(update={"seed": (self.config.sampling.seed or 0) + r}) for _, r in asked
        }
        requests = [
            self.request(f"revise_{b.seed.category}", settings[r], question=b.topic, task=b.topic) for b, r in asked
        ]
        out = [b for b in questions if b.seed.category not in ("open_qa", "writing") or not b.seed.n_revisions]
        for (b, r), reply in zip(asked, self.ask(requests)):
            text, reason = self.reply_text(reply)
            if reason:
                self.reject(b.doc, f"revise_{reason}", b.topic)
                continue
            out.append(
                _Branch(b.doc, b.seed, text, b.steps + [self.step_record(f"revise_{b.seed.category}", settings[r])])
            )
        return out
