"""Programming language by file name and extension, content checks for ambiguous extensions, notebooks flattened.

The map is GitHub linguist's (`language_map.py`); The Stack v2 ran go-enry, which is linguist's
Go port (StarCoder2 paper section 2.1). Where an extension is claimed by several languages the
content decides, with the distinguishing signs linguist's heuristics.yml uses (`.h`: Objective-C
directives or C++ syntax, else C; `.m`: Objective-C or MATLAB; `.pl`: Prolog clauses or Perl).
Jupyter notebooks become one script in Jupytext's percent format (`# %%` code cells, markdown cells
as comments; outputs dropped), the form in which The Stack v2 kept notebooks as scripts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

import orjson

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig
from corpusforge.stages.code.language_map import AMBIGUOUS, EXTENSIONS, FILENAMES, INTERPRETERS

_OBJC = re.compile(r"^\s*(?:@(?:interface|implementation|protocol|property|end|class|synthesize)\b|#import\s)", re.M)
_CPP = re.compile(
    r"^\s*(?:(?:template\s*<|namespace\s+\w+|class\s+\w+[^;]*\{|using\s+namespace\b)|"
    r"(?:public|private|protected)\s*:)|std::|\bconstexpr\b|#include\s*<(?:iostream|vector|string|"
    r"memory|map|algorithm|cstdint|cstdio|cstdlib)>",
    re.M,
)
_MATLAB = re.compile(
    r"^\s*(?:function\s+(?:\[[^\]]*\]\s*=\s*|\w+\s*=\s*)?\w+\s*\(|%[%{ ]|end\s*$|"
    r"(?:disp|fprintf|zeros|ones|plot)\s*\()",
    re.M,
)
_MERCURY = re.compile(r"^:- module\s+\w+\.", re.M)
_PROLOG = re.compile(r"^\s*(?::-\s*(?:module|use_module|dynamic|initialization)\b|[a-z]\w*(?:\([^)]*\))?\s*:-)", re.M)
_PERL = re.compile(
    r"^\s*(?:use\s+(?:strict|warnings|[A-Z]\w*(?:::\w+)*)|my\s+[$@%]|sub\s+\w+|"
    r"package\s+\w+(?:::\w+)*;)",
    re.M,
)
_QT_TS = re.compile(r"^\s*(?:<\?xml|<!DOCTYPE TS|<TS\b)", re.M)
_COQ = re.compile(r"^\s*(?:Theorem|Lemma|Proof\.|Qed\.|Require Import|Inductive|Fixpoint)\b", re.M)
_SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+)?(?:\S*/)?([\w.+-]+)")

# Comment prefix for markdown cells of a notebook, by kernel language.
_LINE_COMMENT = {
    "python": "#",
    "r": "#",
    "julia": "#",
    "ruby": "#",
    "bash": "#",
    "perl": "#",
    "scala": "//",
    "javascript": "//",
    "typescript": "//",
    "c++": "//",
    "java": "//",
    "go": "//",
    "rust": "//",
    "c#": "//",
    "kotlin": "//",
    "matlab": "%",
    "octave": "%",
    "sql": "--",
}
_KERNEL_LANGUAGE = {
    "python": "Python",
    "r": "R",
    "julia": "Julia",
    "scala": "Scala",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "c++": "C++",
    "java": "Java",
    "ruby": "Ruby",
    "bash": "Shell",
    "go": "Go",
    "rust": "Rust",
    "c#": "C#",
    "kotlin": "Kotlin",
    "matlab": "MATLAB",
    "octave": "MATLAB",
    "sql": "SQL",
    "perl": "Perl",
}


def resolve_ambiguous(ext: str, text: str) -> str:
    """The language of a file whose extension several languages claim, from its content."""
    head = text[:50_000]
    if ext == ".h":
        if _OBJC.search(head):
            return "Objective-C"
        return "C++" if _CPP.search(head) else "C"
    if ext == ".m":
        if _OBJC.search(head):
            return "Objective-C"
        if _MERCURY.search(head):
            return "Mercury"
        return "MATLAB" if _MATLAB.search(head) else "Objective-C"
    if ext == ".pl":
        if _PERL.search(head):
            return "Perl"
        return "Prolog" if _PROLOG.search(head) else "Perl"
    if ext == ".ts":
        return "XML" if _QT_TS.search(head) else "TypeScript"
    if ext == ".v":
        return "Coq" if _COQ.search(head) else "Verilog"
    if ext == ".inc":
        if head.lstrip().startswith("<?php"):
            return "PHP"
        return "C++" if _CPP.search(head) else "Assembly"
    raise KeyError(ext)


def detect_language(path: str, text: str) -> tuple[str | None, bool]:
    """(language or None, whether content had to decide) from a repository path and the file's text."""
    name = PurePosixPath(path).name
    lower = name.lower()
    if lower in FILENAMES:
        return FILENAMES[lower], False
    ext = PurePosixPath(lower).suffix
    if ext in AMBIGUOUS:
        return resolve_ambiguous(ext, text), True
    if ext in EXTENSIONS:
        return EXTENSIONS[ext], False
    if lower.startswith(("dockerfile.", "makefile.")):
        return FILENAMES[lower.split(".")[0]], False
    if not ext and (m := _SHEBANG.match(text)):
        interpreter = re.sub(r"[\d.]+$", "", m.group(1)) or m.group(1)
        lang = INTERPRETERS.get(m.group(1)) or INTERPRETERS.get(interpreter)
        if lang:
            return lang, True
    return None, False


def flatten_notebook(raw: str) -> tuple[str, str] | None:
    """(script text, language) of a Jupyter notebook in Jupytext's percent format; None if not a notebook."""
    try:
        nb = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    meta: dict = nb["metadata"] if isinstance(nb.get("metadata"), dict) else {}
    kernel = (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get("name") or "python"
    kernel = str(kernel).lower()
    comment = _LINE_COMMENT.get(kernel, "#")
    parts = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            return None
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        kind = cell.get("cell_type")
        if kind == "code":
            parts.append(f"{comment} %%\n{source.rstrip()}\n")
        elif kind in ("markdown", "raw"):
            lines = "\n".join(f"{comment} {line}".rstrip() for line in source.rstrip().splitlines())
            parts.append(f"{comment} %% [{kind}]\n{lines}\n")
    return "\n".join(parts), _KERNEL_LANGUAGE.get(kernel, kernel.capitalize())


class CodeLanguage(Stage):
    """Sets `meta.language` from the path (and content where the extension is ambiguous); flattens notebooks."""

    type = "code_language"
    config: Config

    class Config(StageConfig):
        # The Stack v2 keeps the languages linguist knows (619 after inspection): unknown files go.
        drop_unknown: bool = True
        languages: list[str] | None = None  # keep only these (None: every known language)
        flatten_notebooks: bool = True

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        cfg, ledger = self.config, self.ledger
        keep = set(cfg.languages) if cfg.languages else None
        for doc in docs:
            path = doc.meta.get("path") or ""
            lang, by_content = detect_language(path, doc.text)
            if lang == "Jupyter Notebook" and cfg.flatten_notebooks:
                flat = flatten_notebook(doc.text)
                if flat is None:
                    self.drop(doc, "invalid_notebook")
                    continue
                doc.text, lang = flat
                flags = doc.annotations.setdefault("flags", [])
                flags.append("jupyter_notebook")
                ledger.count("notebooks_flattened")
                if not doc.text.strip():
                    self.drop(doc, "empty_notebook")
                    continue
            if lang is None:
                if cfg.drop_unknown:
                    self.drop(doc, "unknown_language")
                    continue
                lang = "unknown"
            if by_content:
                ledger.histogram("decided_by_content", f"{PurePosixPath(path).suffix or 'shebang'}->{lang}")
            if keep is not None and lang not in keep:
                self.drop(doc, "language_not_selected")
                continue
            doc.meta["language"] = lang
            ledger.histogram("languages", lang)
            yield doc
