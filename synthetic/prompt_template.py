"""Versioned prompt templates kept as files under `synthetic/prompts/<name>_v<version>.txt`.

The version and a digest of the wording are part of every cache key and every output's
provenance, so editing a prompt means adding a new version file, and replies made under the old
wording are never mixed with new ones. A file may hold a system part and a user part, each under
its own header line (`=== system ===`, `=== user ===`); a file without headers is the user part.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from corpusforge.core import storage

_SECTION = re.compile(r"^=== (system|user) ===[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt with `{{field}}` fields to fill."""

    name: str
    version: str
    text: str

    @property
    def key(self) -> str:
        """`name@version#digest`: names the exact wording, for caches and provenance."""
        return f"{self.name}@v{self.version}#{hashlib.sha256(self.text.encode()).hexdigest()[:8]}"

    @property
    def parts(self) -> tuple[str | None, str]:
        """(system part or None, user part)."""
        pieces = _SECTION.split(self.text)
        if len(pieces) == 1:
            return None, self.text
        found = {pieces[i]: pieces[i + 1].strip("\n") for i in range(1, len(pieces) - 1, 2)}
        if "user" not in found:
            raise ValueError(f"prompt {self.name} v{self.version}: has a system part but no `=== user ===` part")
        return found.get("system"), found["user"]

    def render(self, **fields: str) -> str:
        """The user part with each `{{field}}` replaced (plain replacement: documents may hold braces)."""
        return _fill(self.parts[1], fields)

    def messages(self, **fields: str) -> list[dict[str, str]]:
        """The chat messages: the system part (when there is one) and the filled user part."""
        system, user = self.parts
        out = [{"role": "system", "content": _fill(system, fields)}] if system else []
        return out + [{"role": "user", "content": _fill(user, fields)}]


def _fill(text: str, fields: dict[str, str]) -> str:
    for k, v in fields.items():
        text = text.replace("{{" + k + "}}", v)
    return text


def load_prompt(name: str, version: str = "1", path: str | None = None) -> PromptTemplate:
    """The packaged template `prompts/<name>_v<version>.txt`, or the file at `path` (local or s3://)."""
    if path is not None:
        return PromptTemplate(name, version, storage.read_text(path))
    file = resources.files("corpusforge.synthetic").joinpath("prompts", f"{name}_v{version}.txt")
    if not file.is_file():
        raise FileNotFoundError(f"no prompt template {name!r} version {version}")
    return PromptTemplate(name, version, file.read_text(encoding="utf-8"))
