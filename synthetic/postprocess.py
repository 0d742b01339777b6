"""What happens to a reply: accepted, fixed, or dropped under a named reason; then merged per document.

The per-task steps follow NeMo Curator's Nemotron-CC post-processing (RECIPES.md §3.5):
markdown removal, a required answer prefix that is sliced off, quote removal, "Passage N:"
label lines removed, knowledge-list bullets normalised, and the diverse-QA reformat that appends
a random number of shuffled question/answer pairs to the original text.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpusforge.synthetic.backends.base import CONTEXT_TOO_LONG, ChatReply

# Segment-level drop reasons (documents whose every segment is dropped carry the commonest one).
EMPTY_REPLY = "empty_reply"
REFUSAL = "refusal"
MISSING_PREFIX = "missing_prefix"
OVER_LENGTH_CAP = "over_length_cap"
TRUNCATED = "truncated"  # finish_reason=length: the reply was cut by max_tokens
REQUEST_FAILED = "request_failed"
NO_QA_PAIRS = "no_qa_pairs"
UNDER_MIN_OUTPUT_TOKENS = "under_min_output_tokens"

# Openings of replies that decline the task instead of doing it.
DEFAULT_REFUSALS = (
    r"i'?m sorry",
    r"i am sorry",
    r"sorry,? (but )?i",
    r"i can(no|')t (help|assist|do|provide|comply|fulfil)",
    r"i cannot",
    r"i am (not able|unable)",
    r"i'?m (not able|unable)",
    r"as an ai( language model)?,? i",
    r"i (won'?t|will not) (be able to )?(help|assist|do|provide)",
)


class PostProcessConfig(BaseModel):
    """Checks and fixes applied to each reply, then how the replies of a document are merged."""

    model_config = ConfigDict(extra="forbid")

    required_prefix: str | None = None  # the reply must open with it; it is sliced off
    # exact: as Curator checks it; lenient: a first line that starts with the prefix's words and ends with
    # its colon ("Here is a paraphrased version of the text:") is accepted too, and counted as a fix
    prefix_match: Literal["exact", "lenient"] = "exact"
    strip_markdown: bool = False
    strip_quotes: bool = False
    drop_line_patterns: list[str] = []  # regexes: whole lines matching one are removed
    knowledge_list: bool = False  # Curator's KnowledgeList cleanup
    max_reply_tokens: int | None = Field(None, ge=1)  # longer (processed) replies are dropped
    on_truncated: Literal["drop", "trim"] = "drop"  # a reply cut at max_tokens: drop it, or keep whole sentences
    refusal_patterns: list[str] = list(DEFAULT_REFUSALS)
    merge: Literal["join", "diverse_qa"] = "join"  # per document: segments joined by "\n", or the QA reformat
    max_qa_pairs: int = Field(10, ge=1)  # diverse_qa: keep randint(1, max(1, int(max_qa_pairs * doc_tokens / 150)))
    min_document_tokens: int = Field(0, ge=0)  # merged outputs shorter than this are dropped


@dataclass
class ReplyCheck:
    """A reply's fate: the text kept, or the reason it was dropped; the fixes made on the way."""

    text: str | None
    reason: str | None = None
    fixes: list[str] = field(default_factory=list)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`{1,3})")
_MD_RULE = re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")
_QUOTES = "\"'“”‘’«»"


def strip_markdown(text: str) -> str:
    """Headings, emphasis, inline code, links and rules to plain text."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_RULE.sub("", text)
    text = _MD_HEADING.sub("", text)
    return _MD_EMPHASIS.sub("", text)


def strip_quotes(text: str) -> str:
    """Quotation marks wrapped around the whole reply or around single lines."""
    lines = []
    for line in text.split("\n"):
        s = line.strip()
        if len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES:
            s = s[1:-1].strip()
        lines.append(s)
    return "\n".join(lines).strip().strip(_QUOTES).strip()


def knowledge_list(text: str) -> str:
    """Curator's KnowledgeList cleanup: skip a first line that is not a bullet, strip "- " and 2-space indents."""
    lines = text.split("\n")
    if lines and not lines[0].lstrip().startswith("-"):
        lines = lines[1:]
    out = []
    for line in lines:
        line = line.removeprefix("  ")
        line = line.strip()
        if line.startswith("- "):
            line = line[2:]
        elif line == "-":
            line = ""
        if line:
            out.append(line)
    return "\n".join(out)


def _near_prefix(text: str, prefix: str) -> bool:
    first = text.split("\n", 1)[0].strip().lower()
    stem = prefix.rstrip(":").strip().lower()
    return first.startswith(stem) and first.endswith(":")


def trim_to_sentence(text: str) -> str:
    """The text up to its last complete sentence (empty when it has none)."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else ""


class ReplyProcessor:
    """Applies a task's PostProcessConfig to replies and merges them per document."""

    def __init__(self, config: PostProcessConfig, count_tokens: Callable[[str], int]):
        self.config = config
        self.count_tokens = count_tokens
        self._refusal = (
            re.compile(r"^\W*(" + "|".join(config.refusal_patterns) + r")", re.IGNORECASE)
            if config.refusal_patterns
            else None
        )
        self._drop_lines = [re.compile(p) for p in config.drop_line_patterns]

    def check(self, reply: ChatReply) -> ReplyCheck:
        """Accept, fix or drop one reply."""
        c = self.config
        if reply.error is not None:
            return ReplyCheck(None, CONTEXT_TOO_LONG if reply.error == CONTEXT_TOO_LONG else REQUEST_FAILED)
        text, fixes = reply.text.strip(), []
        if reply.finish_reason == "length":
            if c.on_truncated == "drop":
                return ReplyCheck(None, TRUNCATED)
            text = trim_to_sentence(text)
            fixes.append("trimmed_truncated")
        if not text:
            return ReplyCheck(None, EMPTY_REPLY if reply.finish_reason != "length" else TRUNCATED)
        if self._refusal is not None and self._refusal.match(text):
            return ReplyCheck(None, REFUSAL)
        if c.strip_markdown:
            plain = strip_markdown(text)
            if plain != text:
                fixes.append("markdown_removed")
            text = plain.strip()
        if c.required_prefix is not None:
            head = text.lstrip(_QUOTES + " \n")
            if head.lower().startswith(c.required_prefix.lower()):
                text = head[len(c.required_prefix) :].strip()
            elif c.prefix_match == "lenient" and _near_prefix(head, c.required_prefix):
                text = head.split("\n", 1)[1].strip() if "\n" in head else ""
                fixes.append("prefix_normalised")
            else:
                return ReplyCheck(None, MISSING_PREFIX)
        if c.strip_quotes:
            text = strip_quotes(text)
        if self._drop_lines:
            text = "\n".join(
                line for line in text.split("\n") if not any(p.match(line.strip()) for p in self._drop_lines)
            ).strip()
        if c.knowledge_list:
            text = knowledge_list(text)
        if not text:
            return ReplyCheck(None, EMPTY_REPLY)
        if c.max_reply_tokens is not None and self.count_tokens(text) > c.max_reply_tokens:
            return ReplyCheck(None, OVER_LENGTH_CAP)
        return ReplyCheck(text, None, fixes)

    def merge(self, original: str, texts: list[str], doc_tokens: int, seed: str) -> tuple[str | None, str | None]:
        """(merged output, None) or (None, reason) for one document's kept replies."""
        c = self.config
        if c.merge == "diverse_qa":
            pairs = qa_pairs("\n".join(texts))
            if not pairs:
                return None, NO_QA_PAIRS
            rng = random.Random(seed)
            rng.shuffle(pairs)
            keep = rng.randint(1, max(1, int(c.max_qa_pairs * doc_tokens / 150)))
            out = original.strip() + "\n\n" + "\n\n".join(pairs[:keep])
        else:
            out = "\n".join(texts)
        if c.min_document_tokens and self.count_tokens(out) < c.min_document_tokens:
            return None, UNDER_MIN_OUTPUT_TOKENS
        return out, None


def qa_pairs(text: str) -> list[str]:
    """Question/answer blocks of a diverse-QA reply; none when prose comes before the first question."""
    lines = []
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("- "):
            s = s[2:].strip()
        if not s or s.lower().startswith("here are the questions and answers"):
            continue
        lines.append(s)
    blocks: list[list[str]] = []
    for s in lines:
        if s.lower().startswith("question:"):
            blocks.append([s])
        elif not blocks:
            return []  # Curator empties the output when text precedes the first question
        else:
            blocks[-1].append(s)
    return ["\n".join(b) for b in blocks if any("answer:" in x.lower() for x in b)]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a ```json fence, or the first {...} span; ValueError if none."""
    candidates = [text.strip()] + [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise ValueError(f"no JSON in reply: {text[:200]!r}")
