"""Teacher responses for SFT: each prompt's conversation answered by the teacher model, bad answers dropped by name.

The reply goes through the LLM layer's post-processor (synthetic/postprocess.py): a failed request, an empty
reply, a refusal, a reply cut at max_tokens and one over the length cap each have their own drop reason; a reply
under `min_reply_tokens` is dropped as too short.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import GeneratorConfig, GeneratorStage, is_prompt, steps_of
from corpusforge.synthetic.postprocess import PostProcessConfig, ReplyProcessor


class TeacherResponses(GeneratorStage):
    """Prompts ending on a user turn -> the same conversation with the teacher's answer appended."""

    type = "sft_responses"
    config: Config

    class Config(GeneratorConfig):
        type: Literal["sft_responses"] = "sft_responses"
        sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.95, max_tokens=1024)
        system_prompt: str | None = None  # sent before the conversation (not stored in the SFT row)
        postprocess: PostProcessConfig = PostProcessConfig()
        min_reply_tokens: int = Field(1, ge=0)

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_prompt(doc) and not doc.meta.get("reward_spec") and doc.meta["messages"][-1]["role"] == "user"

    def setup(self) -> None:
        super().setup()
        self.processor = ReplyProcessor(self.config.postprocess, self.counter.count)

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        c = self.config
        system = [{"role": "system", "content": c.system_prompt}] if c.system_prompt else []
        key = "sft_response" + (f"#system={c.system_prompt}" if c.system_prompt else "")
        replies = self.ask([(ChatRequest(system + list(d.meta["messages"]), c.sampling), key) for d in docs])
        for doc, reply in zip(docs, replies):
            check = self.processor.check(reply)
            for fix in check.fixes:
                self.ledger.histogram("responses_fixed", fix)
            reason = check.reason
            if reason is None and self.counter.count(check.text or "") < c.min_reply_tokens:
                reason = "response_too_short"
            if reason:
                self.reject(doc, reason, doc.text)
                continue
            step = {
                "step": f"{self.name}.response",
                "prompt": key,
                "model": self.backend.model,
                "sampling": c.sampling.as_json(),
            }
            doc.meta["messages"] = list(doc.meta["messages"]) + [{"role": "assistant", "content": check.text}]
            doc.meta["generation"] = json.dumps(steps_of(doc) + [step], ensure_ascii=False)
            self.ledger.histogram("responses_by_method", doc.meta.get("method", ""))
            yield self.emit(doc, doc)
