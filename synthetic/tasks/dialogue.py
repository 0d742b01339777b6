"""Multi-turn dialogue (NeMo Curator's dialogue generator, RECIPES.md 4.1): prompts grown into conversations.

From a prompt, the model alternately answers as the assistant and writes the user's follow-up from the
conversation so far, in one of Curator's tones (plain, more demanding, terse), until the conversation has
`user_turns` user messages. It ends on a user turn: the teacher's answer to it comes from `sft_responses`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import xxhash
from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import GeneratorConfig, GeneratorStage, is_prompt

STYLES = {
    "normal": "in the user's own tone",
    "complex": "that asks for more depth or adds a harder requirement, in the user's own tone",
    "concise": "short and direct, the way people type in a hurry",
}


class DialoguePrompts(GeneratorStage):
    """Prompts -> conversations of `user_turns` user messages (assistant turns by the same model)."""

    type = "dialogue"
    config: Config
    prompt_prefix = "dialogue"

    class Config(GeneratorConfig):
        type: Literal["dialogue"] = "dialogue"
        user_turns: int = Field(2, ge=2)
        styles: list[Literal["normal", "complex", "concise"]] = ["normal", "complex", "concise"]
        assistant_sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.95, max_tokens=256)
        methods: list[str] = []
        categories: list[str] = []
        fraction: float = Field(1.0, gt=0, le=1)  # of the matching prompts, chosen by id hash
        keep_parents: bool = True

    config: Config

    def applies(self, doc: Document) -> bool:
        c = self.config
        return (
            is_prompt(doc)
            and not doc.meta.get("reward_spec")
            and len(doc.meta["messages"]) == 1
            and (not c.methods or doc.meta.get("method") in c.methods)
            and (not c.categories or doc.meta.get("category") in c.categories)
            and xxhash.xxh64_intdigest(f"dialogue/{doc.id}".encode()) / 2**64 < c.fraction
        )

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        if c.keep_parents:
            for doc in docs:
                yield self.emit(doc, doc)
        style = {d.id: c.styles[xxhash.xxh64_intdigest(d.id.encode()) % len(c.styles)] for d in docs}
        live: list[tuple[Document, list[dict[str, str]], list[dict]]] = [
            (d, [dict(m) for m in d.meta["messages"]], []) for d in docs
        ]
        for _ in range(c.user_turns - 1):
            answers = self.ask([(ChatRequest(conv, c.assistant_sampling), "dialogue_assistant") for _, conv, _ in live])
            answered = []
            for (doc, conv, steps), reply in zip(live, answers):
                answer, reason = self.reply_text(reply)
                if reason:
                    self.reject(doc, f"assistant_turn_{reason}")
                    continue
                conv.append({"role": "assistant", "content": answer})
                steps.append(
                    {
                        "step": f"{self.name}.assistant",
                        "prompt": "chat",
                        "model": self.backend.model,
                        "sampling": c.assistant_sampling.as_json(),
                    }
                )
                answered.append((doc, conv, steps))
            followups = self.ask(
                [
                    self.request("user_turn", conversation=_transcript(conv), style=STYLES[style[d.id]])
                    for d, conv, _ in answered
                ]
            )
            live = []
            for (doc, conv, steps), reply in zip(answered, followups):
                text, reason = self.reply_text(reply)
                reason = reason or self.length_reason(text)
                if reason:
                    self.reject(doc, f"user_turn_{reason}", text)
                    continue
                conv.append({"role": "user", "content": text})
                step = self.step_record("user_turn")
                step["style"] = style[doc.id]
                live.append((doc, conv, steps + [step]))
        for doc, conv, steps in live:
            yield self.emit(
                doc,
                self.item(
                    doc, conv, "dialogue", doc.meta.get("category", "general"), steps, context=doc.meta.get("context")
                ),
            )


def _transcript(conversation: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in conversation)
