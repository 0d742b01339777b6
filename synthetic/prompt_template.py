"""Versioned prompt templates kept as files under `synthetic/prompts/<name>_v<version>.txt`.

The version is part of every cache key built from a prompt, so editing a prompt means adding a
new version file, and annotations made under the old wording are never mixed with new ones.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt with `{{field}}` fields to fill."""

    name: str
    version: str
    text: str

    @property
    def key(self) -> str:
        """`name@version#digest`: names the exact wording, for caches and manifests."""
        return f"{self.name}@v{self.version}#{hashlib.sha256(self.text.encode()).hexdigest()[:8]}"

    def render(self, **fields: str) -> str:
        """The prompt with each `{{field}}` replaced (plain replacement: documents may hold braces)."""
        out = self.text
        for k, v in fields.items():
            out = out.replace("{{" + k + "}}", v)
        return out


def load_prompt(name: str, version: str = "1") -> PromptTemplate:
    """The packaged template `prompts/<name>_v<version>.txt`."""
    path = resources.files("corpusforge.synthetic").joinpath("prompts", f"{name}_v{version}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {name!r} version {version}")
    return PromptTemplate(name, version, path.read_text(encoding="utf-8"))
