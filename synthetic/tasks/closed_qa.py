"""Closed QA and task prompts grounded in corpus documents (NeMo Curator's closed QA generator, RECIPES.md 4.1).

Any run's documents are the seed source (runs/web-scored, a code or math lane): each document's opening, cut at
a line boundary to `max_context_tokens`, goes to the model with a request for questions and tasks about it; each
one becomes a prompt that carries the passage (`meta.context`), so the answerability check can judge it against
the text and the teacher answers with the text in view. The item's `text`, what deduplication reads, is the
question alone: questions about one passage would otherwise all look alike (the passage itself comes from a run
that was deduplicated and decontaminated on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.synthetic.chunking import split_segments
from corpusforge.synthetic.generation import (
    SEED_SOURCE,
    SYNTHETIC_SOURCE,
    GeneratorConfig,
    GeneratorStage,
    parse_list,
    reply_reason,
)


class ClosedQAPrompts(GeneratorStage):
    """Corpus documents -> questions and tasks about each one, the passage included in the prompt."""

    type = "closed_qa_prompts"
    prompt_prefix = "closed_qa"

    class Config(GeneratorConfig):
        type: Literal["closed_qa_prompts"] = "closed_qa_prompts"
        n_questions: int = Field(3, ge=1)  # Curator: n_openlines per document
        max_context_tokens: int = Field(400, ge=16)  # the passage: the document's opening lines up to this
        min_context_tokens: int = Field(40, ge=0)  # shorter documents are not used
        sources: list[str] = []  # document sources to use (web, code, ...); empty: every non-synthetic one

    config: Config

    def applies(self, doc: Document) -> bool:
        if doc.source.startswith((SEED_SOURCE, SYNTHETIC_SOURCE)):
            return False
        return not self.config.sources or doc.source in self.config.sources

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        passages = {}
        for doc in docs:
            chunked = split_segments(doc.text, self.counter.count_many, c.max_context_tokens)
            passage = chunked.segments[0] if chunked.segments else None
            if passage is None or passage.tokens < c.min_context_tokens:
                self.fail(doc, "context_too_short")
                continue
            passages[doc.id] = passage.text
        asked = [d for d in docs if d.id in passages]
        replies = self.ask([self.request("questions", n=str(c.n_questions), document=passages[d.id]) for d in asked])
        layout = self.template("prompt")
        for doc, reply in zip(asked, replies):
            questions = parse_list(reply.text)[: c.n_questions] if reply.ok else []
            if not questions:
                self.fail(doc, "no_questions")
                self.step_failed("questions", reply_reason(reply) or "unparsed_list")
            steps = [self.step_record("questions")]
            for q in questions:
                reason = self.length_reason(q)
                if reason:
                    self.reject(doc, reason, q)
                    continue
                content = layout.render(document=passages[doc.id], question=q)
                yield self.emit(
                    doc,
                    self.item(
                        doc,
                        [{"role": "user", "content": content}],
                        "closed_qa",
                        "closed_qa",
                        steps,
                        context=passages[doc.id],
                        text=q,
                    ),
                )
