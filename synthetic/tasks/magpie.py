"""Magpie (Xu et al. 2024; RECIPES.md 4.2): an aligned model writes user queries from its own chat template.

Only the template's opening up to where a user message's content starts (the pre-query template) is fed as a
raw text completion; the model continues with a query as a user would write it, and stops at the end of the turn.
The teacher answers it later (the `sft_responses` stage). This needs raw completions: the embedded backend has
them (and knows its template), an OpenAI-compatible server only with `raw_completions: true` (vLLM, SGLang,
llama.cpp serve /completions) and the template given; otherwise the pipeline stops at validation and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import GeneratorConfig, GeneratorStage, is_seed, seed_record

# Text that means the model ran past the user turn into the template itself.
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|eot_id|>", "[INST]", "assistant\n")


class MagpieSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["magpie"] = "magpie"
    category: str = "magpie"
    n: int = Field(8, ge=1)  # queries to sample


class MagpiePrompts(GeneratorStage):
    """Seeds `seed/magpie` -> user queries sampled from the pre-query template."""

    type = "magpie"

    class Config(GeneratorConfig):
        type: Literal["magpie"] = "magpie"
        # Magpie samples queries at temperature 1 and top-p 1. No seed: the n requests of a seed are the same text,
        # and a server given one seed would return one query n times (replies are still cached for resume).
        sampling: SamplingSettings = SamplingSettings(temperature=1.0, top_p=1.0, max_tokens=96, seed=None)
        pre_query_template: str | None = None  # None: the backend's own (the embedded model knows it)

        @model_validator(mode="after")
        def _raw_completions(self) -> MagpiePrompts.Config:
            backend = self.backend
            if backend.type == "vllm_offline" or (backend.type == "openai" and not backend.raw_completions):
                raise ValueError(
                    f"backend: magpie needs raw text completions to feed the pre-query template; backend "
                    f"{backend.type!r} {'has none' if backend.type == 'vllm_offline' else 'has raw_completions off'}"
                    " (use the embedded backend, or an OpenAI-compatible server that serves /completions with "
                    "`raw_completions: true` and `pre_query_template`)"
                )
            return self

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "magpie")

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        template = self.config.pre_query_template or self.backend.pre_query_template()
        settings = self.config.sampling
        asked = []
        for doc in docs:
            try:
                seed = MagpieSeed(**seed_record(doc))
            except (ValidationError, ValueError, TypeError):
                self.fail(doc, "invalid_seed")
                continue
            asked += [(doc, seed, i) for i in range(seed.n)]
        key = f"magpie_pre_query#{len(template)}"
        replies = self.ask([(ChatRequest([], settings, raw_prompt=template), f"{key}#{i}") for _, _, i in asked])
        step = {
            "step": f"{self.name}.pre_query",
            "prompt": template,
            "model": self.backend.model,
            "sampling": settings.as_json(),
        }
        seen: set[str] = set()
        for (doc, seed, _), reply in zip(asked, replies):
            query, reason = self.reply_text(reply)
            if reason is None and any(m in query for m in TEMPLATE_MARKERS):
                reason = "template_leak"
            reason = reason or self.length_reason(query)
            if reason is None and query.lower() in seen:
                reason = "duplicate_query"
            if reason:
                self.reject(doc, reason, query)
                continue
            seen.add(query.lower())
            yield self.emit(
                doc,
                self.item(
                    doc, [{"role": "user", "content": query}], "magpie", seed.category, [step], inherit_steps=False
                ),
            )
