"""Labels for training quality classifiers: the labels file, and the labellers that make one.

Two labellers: DCLM-style reference-versus-random (Li et al. 2024, §4.4: a reference set of
high-quality text as positives, random web documents as negatives), and FineWeb-Edu-style LLM
annotation of educational value on 0-5 (Penedo et al. 2024) through any OpenAI-compatible
server, cached so that a killed labelling run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.stats import StageStats


@dataclass
class LabelledText:
    """One training example: the text, its numeric label, and where the label came from."""

    text: str
    label: float
    origin: str = ""


# ---------------------------------------------------------------------------- labels files


def write_labels(path: str, rows: Iterable[LabelledText]) -> int:
    """Write a labels file (Parquet for `.parquet`, else JSONL); returns the row count."""
    rows = list(rows)
    if path.endswith(".parquet"):
        table = pa.table(
            {
                "text": [r.text for r in rows],
                "label": pa.array([r.label for r in rows], pa.float32()),
                "origin": [r.origin for r in rows],
            }
        )
        storage.write_parquet(path, table)
    else:
        lines = "".join(
            json.dumps({"text": r.text, "label": r.label, "origin": r.origin}, ensure_ascii=False) + "\n" for r in rows
        )
        storage.write_text(path, lines)
    return len(rows)


def read_labels(path: str, text_field: str = "text", label_field: str = "label") -> list[LabelledText]:
    """Read a labels file (Parquet, or JSONL possibly .gz/.zst); every row needs text and label."""
    out = []
    for i, rec in enumerate(iter_records(path)):
        if text_field not in rec or label_field not in rec:
            raise ValueError(f"{path} row {i}: needs fields {text_field!r} and {label_field!r}, has {sorted(rec)}")
        out.append(LabelledText(str(rec[text_field]), float(rec[label_field]), str(rec.get("origin") or "")))
    if not out:
        raise ValueError(f"{path}: no labelled rows")
    return out


def iter_records(path: str) -> Iterator[dict]:
    """Rows of a Parquet or JSONL(.gz/.zst) file as dicts."""
    if path.endswith(".parquet"):
        with storage.open_file(path, "rb") as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                yield from pf.read_row_group(i).to_pylist()
        return
    with storage.open_file(path, "rb", compression="infer") as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


def iter_texts(paths: Sequence[str], text_field: str = "text", limit: int | None = None) -> Iterator[str]:
    """Texts from Parquet/JSONL files or globs (a run's `data/*.parquet` works as is)."""
    n = 0
    for path in storage.expand(list(paths)):
        for rec in iter_records(path):
            text = rec.get(text_field)
            if text:
                yield text
                n += 1
                if limit is not None and n >= limit:
                    return


def stdlib_reference(chunk_chars: int = 2000) -> list[str]:
    """High-quality technical English that ships with every CPython: the language reference
    topics of `pydoc_data`, cut at paragraph boundaries into ~`chunk_chars` pieces.

    It is the fallback reference set when a project has none of its own; it leans towards
    programming prose, so a real project should pass its own reference JSONL instead."""
    from pydoc_data.topics import topics

    chunks = []
    for body in topics.values():
        buf = ""
        for para in re.split(r"\n\s*\n", body):
            buf = f"{buf}\n\n{para}" if buf else para
            if len(buf) >= chunk_chars:
                chunks.append(buf.strip())
                buf = ""
        if len(buf) >= chunk_chars // 4:
            chunks.append(buf.strip())
    return chunks


# ---------------------------------------------------------------------------- labellers


class Labeller(ABC):
    """Makes labelled examples for training a classifier."""

    @abstractmethod
    def labels(self) -> Iterator[LabelledText]:
        """Yield labelled examples."""


class ReferenceVsRandomLabeller(Labeller):
    """DCLM: reference texts are positives (1), random web documents negatives (0)."""

    def __init__(
        self,
        reference: Iterable[str],
        random_docs: Iterable[str],
        *,
        balance: bool = True,
        min_chars: int = 100,
        max_per_class: int | None = 200_000,
        seed: int = 0,
    ):
        # DCLM's best classifier trained on ~200k examples per class (OH-2.5 + ELI5 vs RefinedWeb).
        self.reference, self.random_docs = reference, random_docs
        self.balance, self.min_chars, self.max_per_class, self.seed = balance, min_chars, max_per_class, seed

    def _sample(self, texts: Iterable[str], rng: random.Random, exclude: set[str]) -> list[str]:
        # Reservoir sampling keeps memory bounded by max_per_class on arbitrarily large inputs.
        cap = self.max_per_class
        kept: list[str] = []
        seen = 0
        for t in texts:
            if len(t) < self.min_chars or _digest(t) in exclude:
                continue
            seen += 1
            if cap is None or len(kept) < cap:
                kept.append(t)
            else:
                j = rng.randrange(seen)
                if j < cap:
                    kept[j] = t
        return kept

    def labels(self) -> Iterator[LabelledText]:
        rng = random.Random(self.seed)
        pos = self._sample(self.reference, rng, set())
        # A random document that is also in the reference set would be labelled both ways.
        neg = self._sample(self.random_docs, rng, {_digest(t) for t in pos})
        if not pos or not neg:
            raise ValueError(f"reference-vs-random needs both classes: {len(pos)} reference, {len(neg)} random texts")
        if self.balance:
            n = min(len(pos), len(neg))
            pos, neg = rng.sample(pos, n), rng.sample(neg, n)
        rows = [LabelledText(t, 1.0, "reference") for t in pos] + [LabelledText(t, 0.0, "random") for t in neg]
        rng.shuffle(rows)
        yield from rows


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


_EDU_SCORE = re.compile(r"educational score:\s*\**\s*([0-5](?:\.\d+)?)", re.IGNORECASE)


def parse_edu_score(reply: str) -> float:
    """The 0-5 score in an annotation reply ("Educational score: N", or JSON {"score": N})."""
    from corpusforge.synthetic.postprocess import parse_json

    m = _EDU_SCORE.findall(reply)
    if m:
        return float(m[-1])
    try:
        data = parse_json(reply)
        score = float(data["score"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"no educational score in reply: {reply[-200:]!r}") from None
    if not 0 <= score <= 5:
        raise ValueError(f"educational score {score} outside 0-5")
    return score


class AnnotationCache:
    """Append-only JSONL of finished annotations, keyed by prompt version, model, settings and text.

    Each line is flushed as soon as its answer arrives, so a killed run loses at most the
    requests in flight; a torn last line is ignored on reload."""

    def __init__(self, path: str):
        self.path = path
        self.entries: dict[str, dict] = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self.entries[rec["key"]] = rec
                    except (ValueError, KeyError):
                        continue  # a line torn by a kill
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open across adds, closed in close()

    def add(self, key: str, record: dict) -> None:
        record = {"key": key, **record}
        self.entries[key] = record
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


class LLMScoreLabeller(Labeller):
    """An LLM grades each text with a versioned prompt; `parse` turns a reply into the numeric label.

    Any backend of the LLM layer works (`synthetic/backends`: an OpenAI-compatible server, vLLM
    offline, the embedded model); replies are cached so a killed labelling run resumes. With a
    `ledger`, the run is accounted as a stage is: documents in, labelled out, failures dropped by
    reason, and the LLM's requests, tokens, latency and cache hits (`synthetic/accounting.py`)."""

    # Requests handed to the backend at once: bounds memory on large inputs, keeps a server busy.
    BATCH = 1024

    def __init__(
        self,
        backend,
        items: Iterable[tuple[str, dict[str, str]]],
        cache_path: str,
        prompt,
        parse: Callable[[Any], float],
        *,
        max_chars: int = 10_000,
        settings=None,
        follow_up: Sequence[dict[str, str]] = (),
        ledger: StageStats | None = None,
    ):
        from corpusforge.synthetic.accounting import LLMAccounting
        from corpusforge.synthetic.backends.base import SamplingSettings

        self.backend, self.items, self.cache_path = backend, items, cache_path
        self.prompt, self.parse, self.max_chars = prompt, parse, max_chars
        self.settings = settings or SamplingSettings(temperature=0.0, max_tokens=512)
        self.follow_up = list(follow_up)  # messages after the prompt's own (a mode's extra instruction)
        self.ledger = ledger
        self.accounting = LLMAccounting(ledger) if ledger is not None else None
        self.failed = 0
        self.failures: dict[str, int] = {}
        self.requested = 0

    def request(self, text: str, fields: dict[str, str] | None = None):
        from corpusforge.synthetic.backends.base import ChatRequest

        messages = self.prompt.messages(document=text[: self.max_chars], **(fields or {}))
        return ChatRequest(messages + self.follow_up, self.settings)

    def key(self, text: str, fields: dict[str, str] | None = None) -> str:
        """Cache key: the exact prompt wording, the model, the settings and the text."""
        return self.request(text, fields).key(self.backend.model, self.prompt.key)

    def labels(self) -> Iterator[LabelledText]:
        cache = AnnotationCache(self.cache_path)
        origin = f"llm:{self.backend.model}:{self.prompt.key}"
        missing: list[tuple[str, str, dict[str, str]]] = []
        try:
            for text, fields in self.items:
                k = self.key(text, fields)
                if self.ledger is not None:
                    self.ledger.docs_in += 1
                    self.ledger.bytes_in += len(text.encode("utf-8", "surrogatepass"))
                if k in cache.entries:
                    if self.accounting is not None:
                        self.accounting.cached()
                    yield self._out(LabelledText(text, float(cache.entries[k]["score"]), origin))
                else:
                    missing.append((k, text, fields))
            for start in range(0, len(missing), self.BATCH):
                yield from self._annotate(missing[start : start + self.BATCH], cache, origin)
        finally:
            cache.close()

    def _out(self, row: LabelledText) -> LabelledText:
        if self.ledger is not None:
            self.ledger.docs_out += 1
            self.ledger.bytes_out += len(row.text.encode("utf-8", "surrogatepass"))
            self.ledger.histogram("labels", f"{row.label:g}")
        return row

    def _annotate(
        self, batch: list[tuple[str, str, dict[str, str]]], cache: AnnotationCache, origin: str
    ) -> Iterator[LabelledText]:
        import asyncio
        import time

        scores: dict[int, float] = {}

        def on_reply(i: int, reply) -> None:
            self.requested += 1
            if self.accounting is not None:
                self.accounting.sent(reply)
            reason = reply.error
            if reason is None:
                try:
                    scores[i] = self.parse(reply)
                except ValueError:
                    reason = "unparsable"
                else:
                    cache.add(batch[i][0], {"score": scores[i], "reply": reply.text[-500:]})
            if reason is not None:
                self.failed += 1
                self.failures[reason] = self.failures.get(reason, 0) + 1
                if self.ledger is not None:
                    self.ledger.drop(reason, len(batch[i][1].encode("utf-8", "surrogatepass")))

        async def run() -> None:
            try:
                await self.backend.generate([self.request(t, f) for _, t, f in batch], on_reply)
            finally:
                await self.backend.aclose()

        t0 = time.perf_counter()
        asyncio.run(run())
        if self.accounting is not None:
            self.accounting.seconds(time.perf_counter() - t0)
        for i in sorted(scores):
            yield self._out(LabelledText(batch[i][1], scores[i], origin))


class LLMEduLabeller(LLMScoreLabeller):
    """FineWeb-Edu: an LLM grades each text's educational value 0-5 with a versioned prompt."""

    def __init__(
        self, backend, texts: Iterable[str], cache_path: str, prompt=None, max_chars: int = 10_000, settings=None
    ):
        from corpusforge.synthetic.prompt_template import load_prompt

        # FineWeb-Edu annotated (truncated) web samples; very long pages only cost tokens.
        super().__init__(
            backend,
            ((t, {}) for t in texts),
            cache_path,
            prompt or load_prompt("edu_annotation", "1"),
            lambda reply: parse_edu_score(reply.text),
            max_chars=max_chars,
            settings=settings,
        )
