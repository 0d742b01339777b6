"""LLM page cleanup (Nemotron-CC-Math, Nemotron-CC-Code): extracted page text rewritten as clean text by a model.

As NeMo Curator's math pipeline does it (RECIPES.md §2.1; `stages/math/modifiers/chunking.py`,
`llm_cleanup.py`, `merge_chunks.py`): the text is split on blank lines into chunks of at most
`chunk_tokens`; a chunk at or over 0.8 x the model's context is not sent; each chunk is one
request with the HTML-to-text prompt (math: every formula as LaTeX in `$...$`; code: every code
line kept verbatim); replies that are the "NO USEFUL CONTENT" marker are left out; the rest are
merged back in chunk order into one document, dropped when the merge is over 900,000 characters.

On top of Curator: a reply is not trusted when the request failed, was cut at max_tokens, came
back empty or refused, or lost most of the chunk's formulas (math) or code lines (code) — the
garbling a small or badly served model does. Such a chunk keeps its original text, is left out,
or drops its document (`on_failed_chunk`, `on_lost_content`), each under a named reason; every
document records its chunk outcomes in `meta.cleanup`. The prompt wording is ours
(`prompts/html_to_text_{math,code}_v1.txt`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from corpusforge.core.document import Document, make_id
from corpusforge.synthetic.backends.base import CONTEXT_TOO_LONG, ChatReply, ChatRequest, SamplingSettings
from corpusforge.synthetic.chunking import Chunk, split_paragraphs
from corpusforge.synthetic.postprocess import REFUSAL, PostProcessConfig
from corpusforge.synthetic.stage import LLMStage, LLMStageConfig, _Job
from corpusforge.synthetic.task import TaskConfig
from corpusforge.synthetic.tasks.cleanup_checks import (
    NO_USEFUL_CONTENT,
    Retention,
    code_retention,
    formula_retention,
    is_no_useful_content,
    strip_chatter,
)

# Drop reasons, for chunks (histograms) and for documents (the ledger).
EMPTY_TEXT = "empty_text"
CHUNK_OVER_MODEL_LEN = "chunk_over_model_len"
NO_USEFUL = "no_useful_content"
MERGED_OVER_MAX_CHARS = "merged_over_max_chars"
LOST = {"math": "lost_formulas", "code": "lost_code"}
# Curator's max_model_len for phi-4 in the math tutorial; used when neither the config nor the backend gives one.
CURATOR_MAX_MODEL_LEN = 16384
# Openings of a reply that declines the task (checked only when the chunk itself does not open that way:
# forum posts do begin with "I'm sorry, but I cannot see why ...").
_REFUSAL = re.compile(r"^\W*(" + "|".join(PostProcessConfig().refusal_patterns) + r")", re.IGNORECASE)

ChunkPolicy = Literal["keep_original", "drop_chunk", "drop_document"]


@dataclass
class _CleanupJob(_Job):
    chunks: list[Chunk] = field(default_factory=list)


@dataclass
class _Outcome:
    """What one chunk contributes: cleaned text, its original text, nothing, or its document's drop."""

    kind: Literal["cleaned", "original", "dropped", "no_useful", "drop_document"]
    text: str = ""
    reason: str | None = None


class LLMCleanup(LLMStage):
    """Rewrites each page's extracted text into clean text, chunk by chunk, and merges the chunks back."""

    type = "llm_cleanup"

    class Config(LLMStageConfig):
        type: Literal["llm_cleanup"] = "llm_cleanup"
        # math: Curator's HTML_TO_TEXT_PROMPT rules (formulas as $...$); code: its _CODE variant (code verbatim)
        variant: Literal["math", "code"] = "math"
        prompt_version: str = "1"
        prompt_file: str | None = None  # a template of your own (local or s3://), with a {{document}} field
        # Curator's math tutorial, step 3: --chunk_length 5000 (TokenSplitterStage splits on "\n\n")
        chunk_tokens: int = Field(5000, ge=16)
        separator: str = "\n\n"
        # The model's context: None takes the backend's (embedded: 8192; vllm_offline: its max_model_len; openai:
        # its context_tokens), else Curator's tutorial value for phi-4, 16384.
        max_model_len: int | None = Field(None, ge=64)
        # Curator's LLMCleanupStage: chunks with n_tokens >= int(0.8 x max_model_len) are not sent
        max_chunk_share: float = Field(0.8, gt=0.0, le=1.0)
        # Curator's LLMCleanupStage defaults: temperature 0.7, top_p 0.8, top_k 20, min_p 0; its max_tokens None
        # lets vLLM write up to the rest of the context: each request here gets min(max_tokens, what is left).
        sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, max_tokens=16384)
        # Curator's ChunkMergeStage joins with "\n"; chunks end at paragraph breaks, so a blank line keeps them.
        merge_separator: str = "\n\n"
        # Curator's ChunkMergeStage: max_text_length 900,000 characters; longer merges are removed (drop) or,
        # here optionally, cut at the last chunk boundary under the cap (truncate).
        max_merged_chars: int = Field(900_000, ge=1)
        on_over_max_chars: Literal["drop", "truncate"] = "drop"
        no_useful_content: str = NO_USEFUL_CONTENT  # Curator's marker, matched on the whole reply
        # A reply not to trust (request failed, cut at max_tokens, empty, refused): keep the chunk's original text,
        # leave the chunk out, or drop the document.
        on_failed_chunk: ChunkPolicy = "keep_original"
        # A reply that kept fewer than min_kept_share of the chunk's formulas (math) or code lines (code):
        # "lost most of them". Chunks with fewer than guard_min_items are not checked.
        on_lost_content: ChunkPolicy = "keep_original"
        min_kept_share: float = Field(0.5, ge=0.0, le=1.0)
        guard_min_items: int = Field(1, ge=1)

    config: Config

    def setup(self) -> None:
        super().setup()
        c = self.config
        # Refusal and truncation are judged here, per chunk; the shared processor only names failed requests.
        self._task = TaskConfig(
            name=f"cleanup_{c.variant}",
            prompt=f"html_to_text_{c.variant}",
            prompt_version=c.prompt_version,
            prompt_file=c.prompt_file,
            sampling=c.sampling,
            postprocess=PostProcessConfig(on_truncated="drop", refusal_patterns=[]),
        )
        self._retention = formula_retention if c.variant == "math" else code_retention

    def tasks_for(self, doc: Document) -> list[TaskConfig]:
        return [self._task]

    def model_len(self) -> int:
        return self.config.max_model_len or self.backend.context_tokens or CURATOR_MAX_MODEL_LEN

    # ---------------------------------------------------------------- requests

    def _plan(self, doc: Document, task: TaskConfig) -> _Job | str:
        c = self.config
        template, _ = self._prompt(task)
        chunks = split_paragraphs(doc.text, self.counter.count_many, c.chunk_tokens, c.separator)
        if not chunks:
            return EMPTY_TEXT
        model_len = self.model_len()
        too_long = int(c.max_chunk_share * model_len)
        counts = getattr(self.backend, "count_prompt_tokens", None)
        job = _CleanupJob(doc, task, template, sum(ch.tokens for ch in chunks), [], chunks=chunks)
        for ch in chunks:
            self.ledger.count("chunks")
            if ch.tokens >= too_long:
                job.not_sent[ch.index] = CHUNK_OVER_MODEL_LEN
                self.accounting.not_sent(CHUNK_OVER_MODEL_LEN)
                job.requests.append(ChatRequest([], task.sampling))  # a slot only: never sent
                continue
            req = ChatRequest(template.messages(document=ch.text), task.sampling)
            room = model_len - (counts(req) if counts else self.counter.count_messages(req.messages))
            if room < 1:
                job.not_sent[ch.index] = CONTEXT_TOO_LONG
                self.accounting.not_sent(CONTEXT_TOO_LONG)
            elif room < task.sampling.max_tokens:
                req = ChatRequest(req.messages, task.sampling.model_copy(update={"max_tokens": room}))
            job.requests.append(req)
        return job

    # ---------------------------------------------------------------- replies

    def _finish(self, job: _Job) -> Document | str:
        assert isinstance(job, _CleanupJob)
        outcomes = [self._judge(job, i, ch) for i, ch in enumerate(job.chunks)]
        led = self.ledger
        for o in outcomes:
            if o.kind == "cleaned":
                led.count("chunks_cleaned")
            elif o.kind == "original":
                led.histogram("chunks_kept_original", o.reason or "")
            elif o.kind == "no_useful":
                led.histogram("chunks_dropped", NO_USEFUL)
            else:
                led.histogram("chunks_dropped", o.reason or "")
        for o in outcomes:
            if o.kind == "drop_document":
                return o.reason or ""
        parts = [o.text.strip() for o in outcomes if o.kind in ("cleaned", "original") and o.text.strip()]
        if not parts:
            # Every chunk the model judged was "no useful content": the page is. Otherwise the commonest reason.
            if any(o.kind == "no_useful" for o in outcomes):
                return NO_USEFUL
            return Counter(o.reason or "" for o in outcomes).most_common(1)[0][0]
        merged = self.config.merge_separator.join(parts)
        if len(merged) > self.config.max_merged_chars:
            if self.config.on_over_max_chars == "drop":
                return MERGED_OVER_MAX_CHARS
            merged = self._truncate(parts)
            led.count("merged_truncated")
        if any(o.kind == "dropped" for o in outcomes):
            led.count("documents_with_chunks_left_out")
        if not any(o.kind == "cleaned" for o in outcomes):
            led.count("documents_all_original")
        return self._document(job, merged, outcomes)

    def _judge(self, job: _CleanupJob, i: int, chunk: Chunk) -> _Outcome:
        """One chunk's fate from its reply (or the reason it was not sent)."""
        c = self.config
        if job.not_sent.get(i) == CHUNK_OVER_MODEL_LEN:
            return _Outcome("dropped", reason=CHUNK_OVER_MODEL_LEN)  # Curator: such chunks are left out
        reply = job.replies.get(i) or ChatReply(error=CONTEXT_TOO_LONG if i in job.not_sent else "no_reply")
        check = self._processors[job.task.name].check(reply)
        if check.reason is not None or check.text is None:
            return self._apply(c.on_failed_chunk, chunk, check.reason or "empty_reply")
        text = check.text
        if _REFUSAL.match(text) and not _REFUSAL.match(chunk.text.strip()):
            return self._apply(c.on_failed_chunk, chunk, REFUSAL)
        marker = is_no_useful_content(text, c.no_useful_content)
        text, fixes = ("", []) if marker else strip_chatter(text)
        for fix in fixes:
            self.ledger.histogram("replies_fixed", fix)
        kept = self._retention(chunk.text, text)
        self._count_retention(kept)
        if kept.items >= c.guard_min_items and kept.share < c.min_kept_share:
            # a marker on a chunk full of formulas or code is lost content too, not an empty page
            return self._apply(c.on_lost_content, chunk, LOST[c.variant])
        if marker:
            return _Outcome("no_useful")
        return _Outcome("cleaned", text)

    def _count_retention(self, kept: Retention) -> None:
        if kept.items:
            self.ledger.count("guard_items_sent", kept.items)
            self.ledger.count("guard_items_kept", kept.kept)

    @staticmethod
    def _apply(policy: ChunkPolicy, chunk: Chunk, reason: str) -> _Outcome:
        if policy == "keep_original":
            return _Outcome("original", chunk.text, reason)
        return _Outcome("dropped" if policy == "drop_chunk" else "drop_document", reason=reason)

    def _truncate(self, parts: list[str]) -> str:
        sep, cap = self.config.merge_separator, self.config.max_merged_chars
        out = parts[0][:cap]
        for p in parts[1:]:
            if len(out) + len(sep) + len(p) > cap:
                break
            out += sep + p
        return out

    def _document(self, job: _Job, text: str, outcomes: list[_Outcome]) -> Document:
        """The cleaned page: same source and annotations, provenance as the rephrase stage keeps it."""
        src, model, settings = job.doc, self.backend.model, job.task.sampling.as_json()
        summary: dict[str, object] = {"chunks": len(outcomes)}
        for kind in ("cleaned", "original", "dropped", "no_useful"):
            reasons = Counter(o.reason or kind for o in outcomes if o.kind == kind)
            if reasons:
                summary[kind] = sum(reasons.values()) if kind in ("cleaned", "no_useful") else dict(reasons)
        meta = {
            **src.meta,
            "source_id": src.id,
            "task": job.task.name,
            "prompt": job.prompt.key,
            "model": model,
            "sampling": settings,
            "cleanup": json.dumps(summary, sort_keys=True),
        }
        doc_id = make_id(src.source, f"{src.id}\0{job.prompt.key}\0{model}\0{settings}")
        return Document(doc_id, text, src.source, meta, dict(src.annotations))
