"""OpenCoder RefineCode's rules: the general-code profile, data files, and Python and C++ rules.

Thresholds are OpenCoder's `code_filter_config` (opc_data_filtering, `pipeline/code_filter_config.py`):
the "others" profile for every language, a data-file profile (JSON, YAML, ...) without the string
rules, and per-language rules (Python must parse with `ast`; C++ files with more than one `main` go).
A file goes at the first rule that fires, under that rule's named reason. OpenCoder's one random
rule (Python "no-logic" files dropped with probability 0.8) is left out: a stage's decision must not
depend on a draw.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from corpusforge.core.document import Document
from corpusforge.core.repetition import NGramHashes, duplicates
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.code.basic_filters import AUTOGEN_MARKERS, char_count, line_stats

_WORD = re.compile(r"\w+")
_URL = re.compile(r"^(?:https?|ftp)://|^www\.")
_HEX_WORD = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
# String literals; triple-quoted ones are docstrings (documentation, not data) and do not count.
_DOCSTRING = re.compile(r"\"\"\".*?\"\"\"|'''.*?'''", re.S)
_STRING = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`")
_TODO = re.compile(r"\b(?:todo|fixme)\b|your code here", re.I)
_ASSERT = re.compile(r"^\s*(?:assert\b|self\.assert\w*\(|expect\(|EXPECT_|ASSERT_)")
_CPP_MAIN = re.compile(r"\bint\s+main\s*\(")
_PREPROCESSOR = re.compile(r"^\s*#\s*(?:include|define|if|ifdef|ifndef|endif|else|elif|pragma|undef)\b")
_COMMENT_PREFIX = {
    "#": (
        "Python",
        "Shell",
        "Ruby",
        "Perl",
        "R",
        "YAML",
        "TOML",
        "Makefile",
        "CMake",
        "Dockerfile",
        "Julia",
        "Elixir",
        "Nim",
        "PowerShell",
        "Tcsh",
        "Starlark",
        "Crystal",
    ),
    "//": (
        "C",
        "C++",
        "C#",
        "Java",
        "JavaScript",
        "TypeScript",
        "Go",
        "Rust",
        "Swift",
        "Kotlin",
        "Scala",
        "Dart",
        "Objective-C",
        "PHP",
        "Groovy",
        "CUDA",
        "Solidity",
        "Zig",
        "GLSL",
        "D",
        "Verilog",
        "SystemVerilog",
        "F#",
        "Protocol Buffer",
        "Thrift",
    ),
    "--": ("SQL", "Lua", "Haskell", "Ada", "Elm", "VHDL", "Idris", "Agda", "Lean"),
    "%": ("MATLAB", "TeX", "Erlang", "Prolog", "Mercury"),
    ";": ("Common Lisp", "Emacs Lisp", "Scheme", "Racket", "Clojure", "Assembly"),
}
_PREFIX_OF = {lang: prefix for prefix, langs in _COMMENT_PREFIX.items() for lang in langs}


class GeneralRules(BaseModel):
    """OpenCoder's "others" profile: applies to every code file."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = 3_000_000
    min_lines: int = 10
    max_lines: int = 100_000
    max_line: int = 1000
    min_mean_line: float = 5
    max_mean_line: float = 100
    min_alpha: float = 0.5
    max_digits: float = 0.2
    max_digits_sql: float = 0.3
    max_whitespace: float = 0.5
    max_comments: float = 0.8
    max_replacement_chars: float = 0.01
    min_words: int = 30
    min_chars: int = 50
    min_mean_word: float = 2
    max_mean_word: float = 10
    top_ngrams: dict[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
    dup_ngrams: dict[int, float] = {5: 0.80, 6: 0.70, 7: 0.70, 8: 0.70, 9: 0.70, 10: 0.60}
    max_dup_lines: float = 0.7
    autogen_chars: int = 200
    autogen_markers: list[str] = [*AUTOGEN_MARKERS, "generate", "autogen", "do not edit"]
    max_long_string_lines: float = 0.2  # lines holding a string of more than 20 words
    max_string_chars: float = 0.6
    max_long_word_chars: float = 0.4  # words over 20 characters that are not URLs
    max_hex_word_chars: float = 0.4
    max_todo_lines: float = 0.01
    max_assert_lines: float = 0.4


class DataRules(BaseModel):
    """OpenCoder's data-file profile (no string rules): size band and unique-word share."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] = ["JSON", "YAML", "TOML", "XML", "CSV", "INI", "Text"]
    min_chars: int = 50
    max_chars: int = 5000
    min_unique_words: float = 0.4


class PythonRules(BaseModel):
    """OpenCoder's Python rules: the file parses; shares of function, pass, import and print lines."""

    model_config = ConfigDict(extra="forbid")

    must_parse: bool = True
    max_function_lines: float = 0.2
    max_pass_lines: float = 0.05
    max_import_lines: float = 0.3
    max_print_lines: float = 0.4


class CppRules(BaseModel):
    """OpenCoder's C/C++ rules: one `main` at most; preprocessor lines at most 80%."""

    model_config = ConfigDict(extra="forbid")

    max_main: int = 1
    max_preprocessor_lines: float = 0.8


def _fraction(n: float, d: float) -> float:
    return n / d if d else 0.0


class OpenCoderRules(Filter):
    """OpenCoder RefineCode's heuristic rules, each a named drop reason (`opc_*`, `python_*`, `cpp_*`)."""

    type = "opencoder_rules"
    config: Config

    class Config(StageConfig):
        general: GeneralRules = Field(default_factory=GeneralRules)
        data: DataRules = Field(default_factory=DataRules)
        python: PythonRules = Field(default_factory=PythonRules)
        cpp: CppRules = Field(default_factory=CppRules)
        # Languages the rules skip (prose and markup: the profile was tuned on code).
        skip_languages: list[str] = ["Markdown", "reStructuredText", "HTML", "TeX", "RMarkdown"]

    def reject(self, doc: Document) -> str | None:
        cfg = self.config
        lang = doc.meta.get("language") or ""
        if lang in cfg.skip_languages:
            return None
        text = doc.text
        if lang in cfg.data.languages:
            return self._data_file(text)
        return self._general(text, lang) or self._language_rules(text, lang, doc.meta.get("path") or "")

    def _data_file(self, text: str) -> str | None:
        d = self.config.data
        if not d.min_chars <= len(text) <= d.max_chars:
            return "opc_data_size"
        words = _WORD.findall(text.lower())
        if words and len(set(words)) / len(words) < d.min_unique_words:
            return "opc_data_repetitive"
        return None

    def _general(self, text: str, lang: str) -> str | None:
        g = self.config.general
        n_chars = len(text)
        if len(text.encode("utf-8", "surrogatepass")) > g.max_bytes:
            return "opc_file_too_large"
        n_lines, longest, mean = line_stats(text)
        lines = text.splitlines()
        if n_lines < g.min_lines:
            return "opc_too_few_lines"
        if n_lines > g.max_lines:
            return "opc_too_many_lines"
        if longest > g.max_line:
            return "opc_long_line"
        if not g.min_mean_line <= mean <= g.max_mean_line:
            return "opc_mean_line_length"
        if _fraction(char_count(text, "alpha"), n_chars) < g.min_alpha:
            return "opc_low_alpha"
        max_digits = g.max_digits_sql if lang == "SQL" else g.max_digits
        if _fraction(char_count(text, "digit"), n_chars) > max_digits:
            return "opc_digits"
        if _fraction(char_count(text, "space"), n_chars) > g.max_whitespace:
            return "opc_whitespace"
        if _fraction(text.count("\ufffd"), n_chars) > g.max_replacement_chars:
            return "opc_replacement_chars"
        prefix = _PREFIX_OF.get(lang)
        if prefix is not None:
            comment_chars = sum(len(ln) for ln in lines if ln.lstrip().startswith(prefix))
            if prefix == "//":
                comment_chars += sum(len(ln) for ln in lines if ln.lstrip().startswith(("/*", "*")))
            if _fraction(comment_chars, n_chars) > g.max_comments:
                return "opc_comments"
        words = _WORD.findall(text)
        if len(words) < g.min_words:
            return "opc_few_words"
        if n_chars < g.min_chars:
            return "opc_too_short"
        mean_word = sum(map(len, words)) / len(words)
        if not g.min_mean_word <= mean_word <= g.max_mean_word:
            return "opc_word_length"
        reason = self._repetition(words, lines)
        if reason:
            return reason
        head = text[: g.autogen_chars].lower()
        if head.lstrip().startswith("<?xml version="):
            return "opc_xml"
        if any(m in head for m in g.autogen_markers):
            return "opc_autogenerated"
        return self._strings(text, lines, words)

    def _repetition(self, words: list[str], lines: list[str]) -> str | None:
        g = self.config.general
        lowered = [w.lower() for w in words]
        n_chars = sum(map(len, lowered)) + len(lowered) - 1
        ngrams = NGramHashes(lowered)
        for n, frac in sorted(g.top_ngrams.items()):
            if ngrams.top_ngram_chars(n) / n_chars > frac:
                return f"opc_top_{n}_gram"
        for n, frac in sorted(g.dup_ngrams.items()):
            if ngrams.duplicate_ngram_chars(n) / n_chars > frac:
                return f"opc_dup_{n}_gram"
        stripped = [ln.strip() for ln in lines if ln.strip()]
        if stripped and duplicates(stripped)[0] / len(stripped) > g.max_dup_lines:
            return "opc_dup_lines"
        return None

    def _strings(self, text: str, lines: list[str], words: list[str]) -> str | None:
        g = self.config.general
        n_chars, n_lines = len(text), max(len(lines), 1)
        strings = list(_STRING.finditer(_DOCSTRING.sub("", text)))
        if _fraction(sum(m.end() - m.start() for m in strings), n_chars) > g.max_string_chars:
            return "opc_string_chars"
        long_string_lines = sum(m.group(0).count("\n") + 1 for m in strings if len(_WORD.findall(m.group(0))) > 20)
        if long_string_lines / n_lines > g.max_long_string_lines:
            return "opc_long_string_lines"
        long_words = sum(len(w) for w in text.split() if len(w) > 20 and not _URL.match(w))
        if _fraction(long_words, n_chars) > g.max_long_word_chars:
            return "opc_long_words"
        if _fraction(sum(len(m.group(0)) for m in _HEX_WORD.finditer(text)), n_chars) > g.max_hex_word_chars:
            return "opc_hex_words"
        if sum(1 for ln in lines if _TODO.search(ln)) / n_lines > g.max_todo_lines:
            return "opc_todo_lines"
        if sum(1 for ln in lines if _ASSERT.match(ln)) / n_lines > g.max_assert_lines:
            return "opc_assert_lines"
        return None

    def _language_rules(self, text: str, lang: str, path: str) -> str | None:
        if lang == "Python" and PurePosixPath(path).suffix != ".pyi":
            return self._python(text)
        if lang in ("C", "C++"):
            c = self.config.cpp
            if len(_CPP_MAIN.findall(text)) > c.max_main:
                return "cpp_multiple_main"
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if lines and sum(1 for ln in lines if _PREPROCESSOR.match(ln)) / len(lines) > c.max_preprocessor_lines:
                return "cpp_preprocessor"
        return None

    def _python(self, text: str) -> str | None:
        p = self.config.python
        if p.must_parse:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # invalid escapes and the like are warnings, not errors
                    ast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return "python_syntax_error"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        n = max(len(lines), 1)
        if sum(1 for ln in lines if ln.startswith(("def ", "async def "))) / n > p.max_function_lines:
            return "python_function_lines"
        if sum(1 for ln in lines if ln == "pass") / n > p.max_pass_lines:
            return "python_pass_lines"
        if sum(1 for ln in lines if ln.startswith(("import ", "from "))) / n > p.max_import_lines:
            return "python_import_lines"
        if sum(1 for ln in lines if ln.startswith("print(")) / n > p.max_print_lines:
            return "python_print_lines"
        return None
