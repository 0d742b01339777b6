"""OpenCoder RefineCode's rules: the general-code profile, data files, and Python and C++ rules.

Thresholds are OpenCoder's `code_filter_config` (opc_data_filtering, `pipeline/code_filter_config.py`):
the "others" profile for every language, a data-file profile (JSON, YAML, ...) without the string
rules, and per-language rules (Python must parse with `ast`; C++ files with more than one `main` go).
A file goes at the first rule that fires, under that rule's named reason. OpenCoder's one random
rule (Python "no-logic" files dropped with probability 0.8) is left out: a stage's decision must not
depend on a draw.

`reference_filters.opencoder_reason` states each rule one at a time; this stage reaches the same verdict
with one `splitlines` shared by every line rule, C-level passes over the lines (`map`, `compress`),
words of ASCII files by one `bytes.translate`, a bound that skips the duplicate n-gram scans when they
cannot fire, substring pre-checks before the per-line patterns, and the Python parse run only on files
every cheaper rule kept (`python_parse.python_parses`: `ast.parse`'s verdict, mostly reached through
`symtable` without building the tree's objects).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate, compress, filterfalse
from operator import methodcaller
from pathlib import PurePosixPath

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from corpusforge.core.document import Document
from corpusforge.core.repetition import NGramHashes
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.code.basic_filters import AUTOGEN_MARKERS, char_count, line_stats
from corpusforge.stages.code.python_parse import python_parses

_WORD = re.compile(r"\w+")
_URL = re.compile(r"^(?:https?|ftp)://|^www\.")
_HEX_WORD = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
# String literals; triple-quoted ones are docstrings (documentation, not data) and do not count.
_DOCSTRING = re.compile(r"\"\"\".*?\"\"\"|'''.*?'''", re.S)
_STRING = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`")
# The same matches with each literal's body unrolled (`[^"\\\n]*(?:\\.[^"\\\n]*)*`): a body character is then one
# step of a character-class loop instead of one pass through an alternation, several times faster.
_STRING_UNROLLED = re.compile(r"\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'|`[^`\\]*(?:\\.[^`\\]*)*`")
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


# ASCII text to its lower-cased `\w+` words in one pass: word bytes lower-cased, every other byte a space.
_ASCII_WORDS_LOWER = bytes(
    ord(chr(b).lower()) if b < 0x80 and (chr(b).isalnum() or b == ord("_")) else ord(" ") for b in range(256)
)
# What `_TODO` can match in lower-cased text, word boundaries aside.
_TODO_WORDS = ("todo", "fixme", "your code here")
_ASSERT_WORDS = ("assert", "expect(", "EXPECT_", "ASSERT_")
_LONGER_THAN_20 = (20).__lt__
# The ASCII bytes `str.split()` splits on (`str.isspace`: the C whitespace and the four separators 0x1c-0x1f).
_ASCII_SPLIT_SPACE = np.array([chr(b).isspace() for b in range(128)] + [False] * 128)
_LONGER_THAN_40 = (40).__lt__


def _chars_of_lines_starting(lines: list[str], prefixes: str | tuple[str, ...]) -> int:
    """Characters of the lines whose first non-blank text starts with one of `prefixes`."""
    return sum(map(len, compress(lines, map(methodcaller("startswith", prefixes), map(str.lstrip, lines)))))


def _count_true(values) -> int:
    return sum(map(bool, values))


def _long_word_chars(text: str) -> int:
    """Characters of the `str.split()` tokens longer than 20 characters that are not URLs."""
    if not text.isascii():
        tokens = text.split()
        return sum(map(len, filterfalse(_URL.match, compress(tokens, map(_LONGER_THAN_20, map(len, tokens))))))
    # ASCII: the token boundaries from one table lookup over the bytes, so only the long tokens become strings.
    space = np.concatenate(([True], _ASCII_SPLIT_SPACE[np.frombuffer(text.encode("ascii"), np.uint8)], [True]))
    edges = np.flatnonzero(space[1:] != space[:-1])
    starts, ends = edges[0::2], edges[1::2]
    long = ends - starts > 20
    long_tokens = map(text.__getitem__, map(slice, starts[long].tolist(), ends[long].tolist()))
    return sum(map(len, filterfalse(_URL.match, long_tokens)))


def _todo_lines(text: str, lines: list[str]) -> int:
    """Lines `_TODO` matches, searched only on the lines that hold one of its words once lower-cased."""
    # Under IGNORECASE "i" also matches the dotted and dotless capitals, and "\u0130".lower() is two characters
    # long; with neither in the text, a match is one of the words in the lower-cased text at the same offset.
    if "\u0130" in text or "\u0131" in text:
        return _count_true(map(_TODO.search, lines))
    lower = text.lower()
    hits = []
    for word in _TODO_WORDS:
        at = lower.find(word)
        while at >= 0:
            hits.append(at)
            at = lower.find(word, at + 1)
    if not hits:
        return 0
    ends = list(accumulate(map(len, text.splitlines(True))))
    return _count_true(_TODO.search(lines[row]) for row in {bisect_right(ends, at) for at in hits})


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
        lines = text.splitlines()
        return self._general(text, lines, lang) or self._language_rules(text, lines, lang, doc.meta.get("path") or "")

    def _data_file(self, text: str) -> str | None:
        d = self.config.data
        if not d.min_chars <= len(text) <= d.max_chars:
            return "opc_data_size"
        words = _WORD.findall(text.lower())
        if words and len(set(words)) / len(words) < d.min_unique_words:
            return "opc_data_repetitive"
        return None

    def _general(self, text: str, lines: list[str], lang: str) -> str | None:
        g = self.config.general
        n_chars = len(text)
        # UTF-8 takes 1 to 4 bytes a character: encode only when the character count cannot decide.
        if 4 * n_chars > g.max_bytes and len(text.encode("utf-8", "surrogatepass")) > g.max_bytes:
            return "opc_file_too_large"
        n_lines, longest, mean = line_stats(lines)
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
            comment_chars = _chars_of_lines_starting(lines, prefix) if prefix in text else 0
            if prefix == "//" and "*" in text:
                comment_chars += _chars_of_lines_starting(lines, ("/*", "*"))
            if _fraction(comment_chars, n_chars) > g.max_comments:
                return "opc_comments"
        ascii_text = text.isascii()
        if ascii_text:
            # ASCII `\w` is [A-Za-z0-9_] and lower-casing keeps lengths: the lower-cased words serve every rule.
            lowered = text.encode("ascii").translate(_ASCII_WORDS_LOWER).decode("ascii").split()
            n_words, word_chars = len(lowered), sum(map(len, lowered))
        else:
            words = _WORD.findall(text)
            n_words, word_chars = len(words), sum(map(len, words))
        if n_words < g.min_words:
            return "opc_few_words"
        if n_chars < g.min_chars:
            return "opc_too_short"
        mean_word = word_chars / n_words
        if not g.min_mean_word <= mean_word <= g.max_mean_word:
            return "opc_word_length"
        if not ascii_text:
            lowered = [w.lower() for w in words]
        reason = self._repetition(lowered, lines)
        if reason:
            return reason
        head = text[: g.autogen_chars].lower()
        if head.lstrip().startswith("<?xml version="):
            return "opc_xml"
        if any(m in head for m in g.autogen_markers):
            return "opc_autogenerated"
        return self._strings(text, lines)

    def _repetition(self, lowered: list[str], lines: list[str]) -> str | None:
        g = self.config.general
        ngrams = NGramHashes(lowered)
        n_chars = int(ngrams.cum_len[-1]) + len(lowered) - 1  # the space-joined words
        for n, frac in sorted(g.top_ngrams.items()):
            if ngrams.top_ngram_chars(n) / n_chars > frac:
                return f"opc_top_{n}_gram"
        bound = None
        for n, frac in sorted(g.dup_ngrams.items()):
            # Repeated n-grams lie inside the words the shortest repeated n-grams cover (see
            # NGramHashes.covered_chars), so one bound clears every longer n when it is under the threshold.
            if bound is None and n_chars > 0:
                bound = ngrams.covered_chars(n)
            if bound is not None and bound / n_chars <= frac:
                continue
            if ngrams.duplicate_ngram_chars(n) / n_chars > frac:
                return f"opc_dup_{n}_gram"
        stripped = list(filter(None, map(str.strip, lines)))
        if stripped and (len(stripped) - len(set(stripped))) / len(stripped) > g.max_dup_lines:
            return "opc_dup_lines"
        return None

    def _strings(self, text: str, lines: list[str]) -> str | None:
        g = self.config.general
        n_chars, n_lines = len(text), max(len(lines), 1)
        strings = _STRING_UNROLLED.findall(_DOCSTRING.sub("", text))
        if _fraction(sum(map(len, strings)), n_chars) > g.max_string_chars:
            return "opc_string_chars"
        # More than 20 words, each followed by a non-word character, and the quotes: over 40 characters.
        long_string_lines = sum(
            s.count("\n") + 1
            for s in compress(strings, map(_LONGER_THAN_40, map(len, strings)))
            if len(_WORD.findall(s)) > 20
        )
        if long_string_lines / n_lines > g.max_long_string_lines:
            return "opc_long_string_lines"
        if _fraction(_long_word_chars(text), n_chars) > g.max_long_word_chars:
            return "opc_long_words"
        hex_chars = sum(map(len, _HEX_WORD.findall(text))) if "0x" in text or "0X" in text else 0
        if _fraction(hex_chars, n_chars) > g.max_hex_word_chars:
            return "opc_hex_words"
        if _todo_lines(text, lines) / n_lines > g.max_todo_lines:
            return "opc_todo_lines"
        assert_lines = _count_true(map(_ASSERT.match, lines)) if any(w in text for w in _ASSERT_WORDS) else 0
        if assert_lines / n_lines > g.max_assert_lines:
            return "opc_assert_lines"
        return None

    def _language_rules(self, text: str, lines: list[str], lang: str, path: str) -> str | None:
        if lang == "Python" and PurePosixPath(path).suffix != ".pyi":
            return self._python(text, lines)
        if lang in ("C", "C++"):
            c = self.config.cpp
            if len(_CPP_MAIN.findall(text)) > c.max_main:
                return "cpp_multiple_main"
            code = list(compress(lines, map(str.strip, lines)))
            if code and _count_true(map(_PREPROCESSOR.match, code)) / len(code) > c.max_preprocessor_lines:
                return "cpp_preprocessor"
        return None

    def _python(self, text: str, lines: list[str]) -> str | None:
        p = self.config.python
        if p.must_parse and not python_parses(text):
            return "python_syntax_error"
        stripped = list(filter(None, map(str.strip, lines)))
        n = max(len(stripped), 1)
        if sum(map(methodcaller("startswith", ("def ", "async def ")), stripped)) / n > p.max_function_lines:
            return "python_function_lines"
        if stripped.count("pass") / n > p.max_pass_lines:
            return "python_pass_lines"
        if sum(map(methodcaller("startswith", ("import ", "from ")), stripped)) / n > p.max_import_lines:
            return "python_import_lines"
        if sum(map(methodcaller("startswith", "print("), stripped)) / n > p.max_print_lines:
            return "python_print_lines"
        return None
