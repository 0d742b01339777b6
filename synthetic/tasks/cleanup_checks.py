"""What the page cleanup checks in a reply: the no-content marker, stray preambles, and lost formulas or code.

A small or badly served model garbles pages: it drops formulas, summarises code, or answers the
question on the page instead of cleaning it. The guard counts the formulas (math variant) or the
code lines (code variant) of the chunk that was sent and how many of them are still in the reply,
compared after a normalisation that forgives what the prompt asks the model to change (delimiters,
spacing commands, `\\dfrac` for `\\frac`, re-indented lines), so only content that is really gone
counts as lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_USEFUL_CONTENT = "NO USEFUL CONTENT"

# Openers of a formula and the closer each one needs; `\begin{env}` closes at its own `\end{env}`.
_OPENER = re.compile(r"(?<!\\)\$\$|(?<!\\)\$|\\\[|\\\(|\\begin\{([A-Za-z]+\*?)\}")
_CLOSER = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
# Set-up markup a cleaned page rightly loses (Stack Exchange wraps posts in $\begingroup$ ... $\endgroup$).
_IGNORED_FORMULAS = frozenset({"", "\\begingroup", "\\endgroup"})
# What may differ between a formula and its cleaned copy without anything being lost.
_NOISE = re.compile(
    r"\s+|[{}]|\\(?:displaystyle|textstyle|scriptstyle|left|right|big|Big|bigg|Bigg|quad|qquad)(?![A-Za-z])"
    r"|\\[,;:! ]"
)
_FENCE = re.compile(r"^\s*(```|~~~)")
# A first line that introduces the answer instead of being part of it, and closing lines that talk to the reader.
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok)\b[^\n]{0,80}|here(?:'s| is| are)\b[^\n]{0,120}:"
    r"|(?:the )?cleaned(?:[- ]up)? (?:text|version|page)[^\n]{0,40}:)\s*(?:\n|$)",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"\n\s*(?:let me know|i hope this|feel free to|if you (?:need|have|want))[^\n]*\s*$", re.IGNORECASE
)


def is_no_useful_content(reply: str, marker: str = NO_USEFUL_CONTENT) -> bool:
    """The reply is the marker alone (quotes, emphasis, a final period and case forgiven)."""
    core = reply.strip().strip("\"'`*_ \n").rstrip(".").strip("\"'`*_ ")
    return core.upper() == marker.upper()


def formulas(text: str) -> list[str]:
    """The bodies of the text's `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` and `\\begin{env}..\\end{env}` formulas.

    Linear in the text: an opener whose closer is not found further on is skipped, and a closer once
    missing is never searched for again (no later opener of its kind can close either)."""
    out: list[str] = []
    missing: set[str] = set()
    pos = 0
    while True:
        m = _OPENER.search(text, pos)
        if m is None:
            return out
        opener, start = m.group(0), m.end()
        closer = f"\\end{{{m.group(1)}}}" if m.group(1) else _CLOSER[opener]
        end = -1 if closer in missing else _find_closer(text, closer, start)
        if end < 0:
            missing.add(closer)
            pos = start
            continue
        out.append(text[m.start() : end + len(closer)] if m.group(1) else text[start:end])
        pos = end + len(closer)


def _find_closer(text: str, closer: str, start: int) -> int:
    if closer != "$":
        return text.find(closer, start)
    while True:  # a single `$` closes at the next unescaped one
        end = text.find("$", start)
        if end < 0 or text[end - 1] != "\\":
            return end
        start = end + 1


def normalise_tex(text: str) -> str:
    """TeX with spacing, braces, sizing and style commands removed and `\\dfrac`/`\\tfrac` read as `\\frac`."""
    return _NOISE.sub("", text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))


def code_lines(text: str) -> list[str]:
    """The non-blank lines inside ``` (or ~~~) fences, stripped."""
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            inside = not inside
            continue
        if inside and line.strip():
            out.append(line.strip())
    return out


@dataclass(frozen=True)
class Retention:
    """How many of a chunk's formulas or code lines were sent, and how many the reply still holds."""

    items: int
    kept: int

    @property
    def share(self) -> float:
        return self.kept / self.items if self.items else 1.0


def formula_retention(chunk: str, reply: str) -> Retention:
    """Formulas of the chunk whose normalised TeX is somewhere in the normalised reply."""
    found = [f for f in (normalise_tex(b) for b in formulas(chunk)) if f not in _IGNORED_FORMULAS]
    flat = normalise_tex(reply)
    return Retention(len(found), sum(1 for f in found if f in flat))


def code_retention(chunk: str, reply: str) -> Retention:
    """Code lines of the chunk that are in the reply, whitespace inside a line forgiven."""
    lines = [" ".join(line.split()) for line in code_lines(chunk)]
    flat = "\n".join(" ".join(line.split()) for line in reply.split("\n"))
    return Retention(len(lines), sum(1 for line in lines if line in flat))


def strip_chatter(reply: str) -> tuple[str, list[str]]:
    """The reply without an introducing first line or a closing line addressed to the reader; the fixes made."""
    fixes = []
    m = _PREAMBLE.match(reply)
    if m and reply[m.end() :].strip():
        reply, fixes = reply[m.end() :], ["preamble_removed"]
    m = _CLOSING.search(reply)
    if m and reply[: m.start()].strip():
        reply = reply[: m.start()]
        fixes.append("closing_removed")
    return reply.strip(), fixes
