"""Nemotron-CC's line-greedy chunking: documents cut at newlines into segments of bounded token count.

Following NeMo Curator's Nemotron-CC pipelines (RECIPES.md §3.4): lines longer than the segment
budget are dropped, adjacent lines are joined greedily up to the budget, and joined segments
shorter than the minimum are dropped. The budget leaves room for the prompt around the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class ChunkingConfig(BaseModel):
    """Token limits on the input side of one task."""

    model_config = ConfigDict(extra="forbid")

    min_document_tokens: int = Field(0, ge=0)  # shorter documents are not sent at all
    min_segment_tokens: int = Field(0, ge=0)  # shorter joined segments are dropped
    max_input_tokens: int = Field(1000, ge=8)  # prompt + segment; the segment gets what the prompt leaves


@dataclass(frozen=True)
class Segment:
    """A run of whole lines of a document, sent as one request."""

    text: str
    tokens: int


@dataclass
class Chunked:
    segments: list[Segment]
    lines_too_long: int = 0
    segments_too_short: int = 0


def max_segment_tokens(config: ChunkingConfig, prompt_tokens: int) -> int:
    """Curator: max_input_tokens minus the prompt's own tokens minus 2."""
    return config.max_input_tokens - prompt_tokens - 2


def split_segments(
    text: str, count_many: Callable[[Sequence[str]], list[int]], max_tokens: int, min_tokens: int = 0
) -> Chunked:
    """Greedy segments of whole lines, each at most `max_tokens` (a joining newline counts one token)."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or max_tokens < 1:
        return Chunked([], lines_too_long=len(lines))
    counts = count_many(lines)
    out = Chunked([])
    buf: list[str] = []
    buf_tokens = 0
    for line, n in zip(lines, counts):
        if n > max_tokens:
            out.lines_too_long += 1
            continue
        if buf and buf_tokens + 1 + n > max_tokens:
            out.segments.append(Segment("\n".join(buf), buf_tokens))
            buf, buf_tokens = [], 0
        buf_tokens += n + (1 if buf else 0)
        buf.append(line)
    if buf:
        out.segments.append(Segment("\n".join(buf), buf_tokens))
    kept = [s for s in out.segments if s.tokens >= min_tokens]
    out.segments_too_short = len(out.segments) - len(kept)
    out.segments = kept
    return out


@dataclass(frozen=True)
class Chunk:
    """A run of whole paragraphs of a document, in document order (`index`), sent as one request."""

    index: int
    text: str
    tokens: int


def split_paragraphs(
    text: str, count_many: Callable[[Sequence[str]], list[int]], max_tokens: int, separator: str = "\n\n"
) -> list[Chunk]:
    """NeMo Curator's TokenSplitterStage (RECIPES.md §2.1): paragraphs split on `separator`, joined greedily.

    Blank paragraphs are skipped; every other one keeps its trailing separator (the last one excepted), so a
    chunk's text is a verbatim slice of the document's paragraphs. A paragraph longer than `max_tokens` is a
    chunk of its own: the caller decides what an over-long chunk means (Curator drops those near the context).
    """
    raw = text.split(separator)
    paragraphs = [p if i == len(raw) - 1 else p + separator for i, p in enumerate(raw) if p.strip()]
    if not paragraphs:
        return []
    chunks: list[Chunk] = []
    buf: list[str] = []
    buf_tokens = 0
    for para, n in zip(paragraphs, count_many(paragraphs)):
        if buf and buf_tokens + n > max_tokens:
            chunks.append(Chunk(len(chunks), "".join(buf), buf_tokens))
            buf, buf_tokens = [], 0
        buf.append(para)
        buf_tokens += n
    if buf:
        chunks.append(Chunk(len(chunks), "".join(buf), buf_tokens))
    return chunks
