"""The base of the SFT and RL prompt generators: seeds or documents in, generated items out, every drop named.

A generator stage acts on the documents it `applies` to (seed records of its method, corpus documents, prompts of
earlier generators) and passes every other document through untouched. One input document can give many items:
each item (kept or dropped) is one unit of the ledger and the input document is the first of them, as the LLM
stage counts a document routed to several tasks, so `docs in = docs out + dropped` holds; an input that gives no
item at all is dropped under the reason its generation failed with. Requests go out in rounds through the LLM
stage's cache (`LLMStage.complete`), so a killed task re-sends only what was not answered.

An item is a document: `text` is what decontamination and deduplication read (the user turns), `meta.messages`
the conversation, `meta.method` / `category` / `parent_ids` / `generation` how it was made (every step's prompt
version, model and sampling settings), `meta.reward_spec` an RL prompt's verifiable reward.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from corpusforge.core.document import Document, make_id
from corpusforge.synthetic.backends.base import ChatReply, ChatRequest, SamplingSettings
from corpusforge.synthetic.postprocess import trim_to_sentence
from corpusforge.synthetic.prompt_template import PromptTemplate, load_prompt
from corpusforge.synthetic.stage import NOT_SAMPLED, OVER_LIMIT, LLMStage, LLMStageConfig, _hash_fraction

SEED_SOURCE = "seed/"  # seed records read by the `seeds` reader: source seed/<method>, text = the record as JSON
SYNTHETIC_SOURCE = "synthetic/"


def is_seed(doc: Document, method: str | None = None) -> bool:
    return doc.source == SEED_SOURCE + method if method else doc.source.startswith(SEED_SOURCE)


def is_prompt(doc: Document) -> bool:
    """A generated SFT or RL prompt (it carries a conversation)."""
    return doc.source.startswith(SYNTHETIC_SOURCE) and bool(doc.meta.get("messages"))


def seed_record(doc: Document) -> dict[str, Any]:
    return json.loads(doc.text)


def user_text(messages: Sequence[dict[str, str]]) -> str:
    """The user turns of a conversation: what decontamination and deduplication look at."""
    return "\n\n".join(m["content"] for m in messages if m["role"] == "user")


def steps_of(doc: Document) -> list[dict[str, Any]]:
    return json.loads(doc.meta["generation"]) if doc.meta.get("generation") else []


# ----------------------------------------------------------------------------- reply parsing

_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s+(.*\S)\s*$")
_LEAD_IN = re.compile(r"^(here (are|is)|sure|certainly|of course|okay|below (are|is))\b.*:\s*$", re.IGNORECASE)


def parse_list(text: str) -> list[str]:
    """The items of a list in a reply: numbered or bulleted lines, else a JSON list, else the non-empty lines.

    A lead-in line ("Here are five topics:") is skipped; items keep their order, exact repeats dropped."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
            if isinstance(value, list):
                return _unique([str(v).strip() for v in value if str(v).strip()])
        except ValueError:
            pass
    lines = [line for line in stripped.splitlines() if line.strip()]
    marked = [m.group(1) for m in map(_ITEM.match, lines) if m]
    if marked:
        items = marked
    else:
        items = [line.strip() for line in lines if not _LEAD_IN.match(line.strip())]
    return _unique([_strip_wrapping(i) for i in items if _strip_wrapping(i)])


def _strip_wrapping(item: str) -> str:
    item = item.strip().strip("*").strip()
    if len(item) >= 2 and item[0] in "\"'\u201c" and item[-1] in "\"'\u201d":
        item = item[1:-1].strip()
    return item


def _unique(items: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


def yes_no(text: str) -> bool | None:
    """A judge's yes or no (the first word that is one), None when it gives neither."""
    for word in re.findall(r"[a-z]+", text.lower())[:20]:
        if word in ("yes", "no"):
            return word == "yes"
    return None


# ----------------------------------------------------------------------------- the stage base


class GeneratorConfig(LLMStageConfig):
    """What every generator shares: sampling, prompt versions, batch size and the prompt length bounds."""

    sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.95, max_tokens=256)
    # step name -> prompt version (templates are synthetic/prompts/<stage prompt>_<step>_v<version>.txt), and
    # step name -> a template file of your own instead
    prompt_versions: dict[str, str] = {}
    prompt_files: dict[str, str] = {}
    batch_docs: int = Field(64, ge=1)  # input documents generated together (one set of request rounds)
    # Self-Instruct keeps instructions of 3-150 words (Wang et al. 2023, §2.3 filtering)
    min_words: int = Field(3, ge=0)
    max_words: int = Field(150, ge=1)
    # a reply cut at max_tokens: dropped as `truncated`, or kept up to its last full sentence
    on_truncated: Literal["drop", "trim"] = "drop"


class GeneratorStage(LLMStage):
    """Base of the prompt generators and of the stages that add to prompts (responses, judges, filters)."""

    type = "generator"
    Config = GeneratorConfig
    config: GeneratorConfig
    prompt_prefix = ""  # templates of this stage: <prompt_prefix>_<step>
    needs_model: ClassVar[bool] = True  # False: the stage sends no request (no backend is started)

    def applies(self, doc: Document) -> bool:
        """Whether this stage acts on `doc` (others pass through unchanged)."""
        return False

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        """Items made from `docs`; each one through `self.emit`, each candidate dropped through `self.reject`."""
        raise TypeError(f"{type(self).__name__} must define generate")

    def setup(self) -> None:
        if self.needs_model:
            super().setup()
        else:
            self.backend = None  # type: ignore[assignment]  # needs_model False: nothing is sent
        self._seen = 0
        self._templates: dict[str, PromptTemplate] = {}
        self._units: Counter = Counter()
        self._failed: dict[str, str] = {}

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        batch: list[Document] = []
        limit, sample = self.config.limit, self.config.sample
        try:
            for doc in docs:
                if not self.applies(doc):
                    yield doc
                    continue
                if sample is not None and _hash_fraction(doc.id) >= sample:
                    self.drop(doc, NOT_SAMPLED)
                    continue
                if limit is not None and self._seen >= limit:
                    self.drop(doc, OVER_LIMIT)
                    continue
                self._seen += 1
                batch.append(doc)
                if len(batch) >= self.config.batch_docs:
                    yield from self._generate(batch)
                    batch = []
            if batch:
                yield from self._generate(batch)
        finally:
            self.close()
            if self.backend is not None:
                self._loop.run_until_complete(self.backend.aclose())

    def close(self) -> None:
        """Release what the stage started besides the backend (verifier processes); it stays usable."""

    def _generate(self, docs: list[Document]) -> Iterator[Document]:
        self._units.clear()
        self._failed.clear()
        yield from self.generate(docs)
        for doc in docs:
            n = self._units[doc.id]
            if n == 0:
                self.drop(doc, self._failed.get(doc.id, "no_items"))
            else:
                self.ledger.docs_in += n - 1  # the input is the first unit; every further item one more

    # ------------------------------------------------------------------ what generate() calls

    def emit(self, parent: Document, item: Document) -> Document:
        """Count `item` as one unit of `parent` (the caller yields it)."""
        self._units[parent.id] += 1
        return item

    def reject(self, parent: Document, reason: str, text: str = "") -> None:
        """Drop one candidate item of `parent` under `reason`."""
        self._units[parent.id] += 1
        self.drop(Document(make_id("candidate", f"{parent.id}\0{text}"), text, SYNTHETIC_SOURCE + self.name), reason)

    def fail(self, parent: Document, reason: str) -> None:
        """Why `parent` gave no item, if it gives none (the reason its input is dropped under)."""
        self._failed.setdefault(parent.id, reason)

    def step_failed(self, step: str, reason: str) -> None:
        """An intermediate request that gave nothing usable (a branch of a topic tree, a round)."""
        self.ledger.histogram(f"failed_{step}", reason)

    def template(self, step: str) -> PromptTemplate:
        if step not in self._templates:
            name = f"{self.prompt_prefix}_{step}" if self.prompt_prefix else step
            self._templates[step] = load_prompt(
                name, self.config.prompt_versions.get(step, "1"), self.config.prompt_files.get(step)
            )
        return self._templates[step]

    def request(
        self, step: str, settings: SamplingSettings | None = None, variant: str = "", **fields: str
    ) -> tuple[ChatRequest, str]:
        """A (request, prompt key) for the step's template filled with `fields`; `variant` tells apart requests
        that are otherwise the same (several samples of one prompt) in the cache."""
        template = self.template(step)
        key = template.key + (f"#{variant}" if variant else "")
        return ChatRequest(template.messages(**fields), settings or self.config.sampling), key

    def ask(self, requests: Sequence[tuple[ChatRequest, str]]) -> list[ChatReply]:
        """Replies in request order, sent in batches of `batch_requests` through the cache."""
        out: list[ChatReply] = []
        size = self.config.batch_requests
        for start in range(0, len(requests), size):
            out.extend(self.complete(requests[start : start + size]))
        return out

    def step_record(self, step: str, settings: SamplingSettings | None = None, prompt: str | None = None) -> dict:
        """Provenance of one generation step."""
        return {
            "step": f"{self.name}.{step}",
            "prompt": prompt or self.template(step).key,
            "model": self.backend.model,
            "sampling": (settings or self.config.sampling).as_json(),
        }

    def item(
        self,
        parent: Document,
        messages: list[dict[str, str]],
        method: str,
        category: str,
        steps: list[dict[str, Any]],
        *,
        context: str | None = None,
        reward_spec: dict | None = None,
        inherit_steps: bool = True,
        text: str | None = None,
    ) -> Document:
        """A new prompt item made from `parent` by `steps` (added to the parent's own provenance); its text (what
        deduplication and decontamination read) is the user turns unless given."""
        history = (steps_of(parent) if inherit_steps else []) + steps
        last = history[-1] if history else {}
        text = user_text(messages) if text is None else text
        meta = {
            "method": method,
            "category": category,
            "parent_ids": [parent.id],
            "generation": json.dumps(history, ensure_ascii=False),
            "messages": messages,
            "task": self.name,
            "prompt": last.get("prompt"),
            "model": last.get("model"),
            "sampling": last.get("sampling"),
        }
        if parent.meta.get("source_id") or not is_seed(parent):
            meta["source_id"] = parent.meta.get("source_id") or parent.id
        if context is not None:
            meta["context"] = context
        if reward_spec is not None:
            meta["reward_spec"] = json.dumps(reward_spec, sort_keys=True, ensure_ascii=False)
        doc_id = make_id(SYNTHETIC_SOURCE + method, f"{parent.id}\0{json.dumps(messages, ensure_ascii=False)}")
        return Document(doc_id, text, SYNTHETIC_SOURCE + method, {k: v for k, v in meta.items() if v is not None})

    def reply_text(self, reply: ChatReply) -> tuple[str, str | None]:
        """(the reply's text, None) or ("", why it cannot be used); a cut reply trimmed or dropped per config."""
        reason = reply_reason(reply)
        if reason:
            return "", reason
        text = reply.text.strip()
        if reply.finish_reason == "length":
            if self.config.on_truncated == "drop":
                return "", "truncated"
            text = trim_to_sentence(text)
            self.ledger.histogram("replies_trimmed", self.name)
            if not text:
                return "", "truncated"
        return text.strip().strip('"').strip(), None

    def length_reason(self, text: str) -> str | None:
        """`too_short` / `too_long` by the stage's word bounds, else None."""
        words = len(text.split())
        if words < self.config.min_words:
            return "too_short"
        if words > self.config.max_words:
            return "too_long"
        return None


def reply_reason(reply: ChatReply) -> str | None:
    """Why a reply cannot be used as it is: the request failed, it is empty, or it was cut by max_tokens."""
    if not reply.ok:
        return "request_failed"
    if not reply.text.strip():
        return "empty_reply"
    return None
