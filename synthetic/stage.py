"""LLM generation as a pipeline stage: documents in, synthetic documents out, every drop named.

Each source document is routed to one or more tasks; each (document, task) pair is one unit of
the ledger (a document routed to four tasks enters the ledger four times), and it either comes
out as one synthetic document or is dropped under a reason. Per pair: the text is chunked into
segments by tokens, each segment is one request, each reply is accepted, fixed or dropped by the
task's post-processor, and the kept replies are merged back into one output. Requests go out in
batches; answered ones are kept in the request cache under the run output, so a rerun of a
killed task re-sends only what was not answered. The stage never knows its engine.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import xxhash
from pydantic import Field

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import Stage, StageConfig
from corpusforge.synthetic.accounting import LLMAccounting, finalize
from corpusforge.synthetic.backends import BackendConfig, make_backend
from corpusforge.synthetic.backends.base import CONTEXT_TOO_LONG, ChatReply, ChatRequest, new_event_loop
from corpusforge.synthetic.backends.embedded import EmbeddedConfig
from corpusforge.synthetic.cache import RequestCache
from corpusforge.synthetic.chunking import max_segment_tokens, split_segments
from corpusforge.synthetic.postprocess import ReplyProcessor
from corpusforge.synthetic.prompt_template import PromptTemplate
from corpusforge.synthetic.task import TaskConfig
from corpusforge.synthetic.tokens import token_counter

# Document-level drop reasons of the stage itself (segment-level ones are in postprocess.py).
OVER_LIMIT = "over_limit"
NOT_SAMPLED = "not_sampled"
UNDER_MIN_DOCUMENT_TOKENS = "under_min_document_tokens"
NO_SEGMENTS = "no_segments"
# Annotations a synthetic document inherits from its source, so blends can select it by tier.
INHERITED_ANNOTATIONS = ("quality_bucket", "quality_tier")


class LLMStageConfig(StageConfig):
    """What every LLM stage shares: the backend, token counting, batching, the cache and prices."""

    backend: BackendConfig = EmbeddedConfig()
    # Token counts for chunking and length caps: `embedded` (the bundled model's tokenizer) or a
    # tokenizer.json of the served model.
    tokenizer: str = "embedded"
    limit: int | None = Field(None, ge=0)  # at most this many source documents per task; the rest: over_limit
    # Keep this fraction of the source documents, chosen by a hash of their id (the same on every engine
    # and rerun); the rest are counted as not_sampled.
    sample: float | None = Field(None, gt=0.0, le=1.0)
    # Requests gathered before a batch goes out: a few times the backend's concurrency keeps it busy.
    batch_requests: int = Field(256, ge=1)
    cache: bool = True
    cache_dir: str | None = None  # default: <run output>/_work/llm_cache/<stage name>
    price_input_per_million: float | None = Field(None, ge=0)  # USD per million prompt tokens
    price_output_per_million: float | None = Field(None, ge=0)  # USD per million completion tokens


@dataclass
class _Job:
    """One (document, task) pair and its requests."""

    doc: Document
    task: TaskConfig
    prompt: PromptTemplate
    doc_tokens: int
    requests: list[ChatRequest]
    not_sent: dict[int, str] = field(default_factory=dict)  # request index -> reason
    replies: dict[int, ChatReply] = field(default_factory=dict)


class LLMStage(Stage):
    """Base of the LLM stages: subclasses say which tasks a document goes to (`tasks_for`)."""

    type = "llm_stage"
    Config = LLMStageConfig
    config: LLMStageConfig

    def tasks_for(self, doc: Document) -> list[TaskConfig] | str:
        """The tasks for a document, or the reason it goes to none."""
        raise TypeError(f"{type(self).__name__} must define tasks_for")

    def before_run(self, run_dir: str) -> None:
        """On the driver: put the request cache under the run output (shipped to tasks with the config)."""
        if self.config.cache and self.config.cache_dir is None:
            self.config.cache_dir = storage.join(run_dir, "_work", "llm_cache", self.name)

    def setup(self) -> None:
        c = self.config
        self.backend = make_backend(c.backend)
        self.counter = token_counter(c.tokenizer)
        self.accounting = LLMAccounting(self.ledger, c.price_input_per_million, c.price_output_per_million)
        self.cache = RequestCache(c.cache_dir) if c.cache and c.cache_dir else None
        self._loop = new_event_loop()
        self._prompts: dict[str, tuple[PromptTemplate, int]] = {}
        self._processors: dict[str, ReplyProcessor] = {}
        self._seen = 0

    @staticmethod
    def finalize_extra(extra: dict[str, Any]) -> dict[str, Any]:
        """Run-level figures from the merged ledger (latency percentiles, throughput, cost)."""
        return finalize(extra)

    # ---------------------------------------------------------------- the document stream

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        limit, sample = self.config.limit, self.config.sample
        pending: list[_Job] = []
        n_requests = 0
        try:
            for doc in docs:
                if sample is not None and _hash_fraction(doc.id) >= sample:
                    self.drop(doc, NOT_SAMPLED)
                    continue
                if limit is not None and self._seen >= limit:
                    self.drop(doc, OVER_LIMIT)
                    continue
                self._seen += 1
                tasks = self.tasks_for(doc)
                if isinstance(tasks, str):
                    self.drop(doc, tasks)
                    continue
                # Each (document, task) pair is one ledger unit: the extra pairs enter here.
                extra_pairs = len(tasks) - 1
                self.ledger.docs_in += extra_pairs
                self.ledger.bytes_in += extra_pairs * len(doc.text.encode("utf-8", "surrogatepass"))
                for task in tasks:
                    job = self._plan(doc, task)
                    if isinstance(job, str):
                        self.drop(doc, job)
                        continue
                    pending.append(job)
                    n_requests += len(job.requests)
                if n_requests >= self.config.batch_requests:
                    yield from self._run_batch(pending)
                    pending, n_requests = [], 0
            if pending:
                yield from self._run_batch(pending)
        finally:
            self._loop.run_until_complete(self.backend.aclose())

    def _prompt(self, task: TaskConfig) -> tuple[PromptTemplate, int]:
        """The task's template and its own token count (the prompt around an empty document)."""
        if task.name not in self._prompts:
            template = task.template()
            overhead = self.counter.count_messages(template.messages(document=""))
            self._prompts[task.name] = (template, overhead)
            self._processors[task.name] = ReplyProcessor(task.postprocess, self.counter.count)
        return self._prompts[task.name]

    def _plan(self, doc: Document, task: TaskConfig) -> _Job | str:
        template, overhead = self._prompt(task)
        ch = task.chunking
        doc_tokens = self.counter.count(doc.text)
        if doc_tokens < ch.min_document_tokens:
            return UNDER_MIN_DOCUMENT_TOKENS
        chunked = split_segments(
            doc.text, self.counter.count_many, max_segment_tokens(ch, overhead), ch.min_segment_tokens
        )
        if chunked.lines_too_long:
            self.ledger.count("lines_over_segment_budget", chunked.lines_too_long)
        if chunked.segments_too_short:
            self.ledger.count("segments_under_min_tokens", chunked.segments_too_short)
        if not chunked.segments:
            return NO_SEGMENTS
        job = _Job(
            doc,
            task,
            template,
            doc_tokens,
            [ChatRequest(template.messages(document=s.text), task.sampling) for s in chunked.segments],
        )
        context = self.backend.context_tokens
        if context:
            counts = getattr(self.backend, "count_prompt_tokens", None)
            for i, req in enumerate(job.requests):
                n = counts(req) if counts else self.counter.count_messages(req.messages)
                if n + req.settings.max_tokens > context:
                    job.not_sent[i] = CONTEXT_TOO_LONG
                    self.accounting.not_sent(CONTEXT_TOO_LONG)
        return job

    # ---------------------------------------------------------------- one batch of requests

    def _run_batch(self, jobs: list[_Job]) -> Iterator[Document]:
        model = self.backend.model
        slots = [
            (job, i, req.key(model, job.prompt.key))
            for job in jobs
            for i, req in enumerate(job.requests)
            if i not in job.not_sent
        ]
        batch = self.cache.batch([k for _, _, k in slots]) if self.cache else None
        missing = []
        for job, i, key in slots:
            hit = batch.get(key) if batch else None
            if hit is not None:
                job.replies[i] = hit
                self.accounting.cached()
            else:
                missing.append((job, i, key))

        def on_reply(n: int, reply: ChatReply) -> None:
            job, i, key = missing[n]
            job.replies[i] = reply
            self.accounting.sent(reply)
            if batch is not None:
                batch.put(key, reply)

        t0 = time.perf_counter()
        try:
            if missing:
                self._loop.run_until_complete(
                    self.backend.generate([job.requests[i] for job, i, _ in missing], on_reply)
                )
        finally:
            self.accounting.seconds(time.perf_counter() - t0)
            if batch is not None:
                batch.close()
        for job in jobs:
            out = self._finish(job)
            if isinstance(out, str):
                self.drop(job.doc, out)
            else:
                yield out

    def _finish(self, job: _Job) -> Document | str:
        """Post-process a pair's replies and merge them into its output document (or a drop reason)."""
        proc = self._processors[job.task.name]
        kept: list[str] = []
        reasons: Counter[str] = Counter()
        for i in range(len(job.requests)):
            if i in job.not_sent:
                reasons[job.not_sent[i]] += 1
                continue
            check = proc.check(job.replies.get(i) or ChatReply(error="no_reply"))
            for fix in check.fixes:
                self.ledger.histogram("segments_fixed", fix)
            if check.reason is not None or check.text is None:
                reasons[check.reason or "empty_reply"] += 1
            else:
                kept.append(check.text)
        for reason, n in reasons.items():
            self.ledger.histogram("segments_dropped", reason, n)
        self.ledger.count("segments_kept", len(kept))
        if not kept:
            return reasons.most_common(1)[0][0]
        merged, why = proc.merge(job.doc.text, kept, job.doc_tokens, seed=f"{job.doc.id}/{job.task.name}")
        if merged is None:
            return why or "empty_reply"
        self.ledger.histogram("outputs_by_task", job.task.name)
        return self._output(job, merged)

    def _output(self, job: _Job, text: str) -> Document:
        src, task = job.doc, job.task
        model, settings = self.backend.model, task.sampling.as_json()
        meta = {
            **src.meta,
            "source_id": src.id,
            "task": task.name,
            "prompt": job.prompt.key,
            "model": model,
            "sampling": settings,
        }
        ann = {k: src.annotations[k] for k in INHERITED_ANNOTATIONS if src.annotations.get(k) is not None}
        doc_id = make_id(f"synthetic/{task.name}", f"{src.id}\0{job.prompt.key}\0{model}\0{settings}")
        return Document(doc_id, text, f"synthetic/{task.name}", meta, ann)


def _hash_fraction(doc_id: str) -> float:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass")) / 2**64


class LLMGenerate(LLMStage):
    """One task over every document: a prompt file, chunking, sampling and post-processing from the YAML."""

    type = "llm_generate"

    class Config(LLMStageConfig):
        type: Literal["llm_generate"] = "llm_generate"
        task: TaskConfig

    config: Config

    def tasks_for(self, doc: Document) -> list[TaskConfig]:
        return [self.config.task]
