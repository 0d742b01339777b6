"""`python_parses` against plain `ast.parse` where its symtable path could part from it: symtable's own errors,
trees near the recursion budgets, null bytes, lone surrogates, invalid escapes under warnings-as-errors."""

from __future__ import annotations

import ast
import string
import symtable
import warnings

import pytest

from corpusforge.samples.code import SITE_PACKAGES
from corpusforge.stages.code.python_parse import python_parses

SIX = (SITE_PACKAGES / "six.py").read_text()


def _ast_parses(text: str) -> bool:
    """The rule's verdict, called from the depth `python_parses` calls it from (the budgets count frames)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _symtable_builds(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            symtable.symtable(text, "<file>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


# Programs the parser accepts and symtable rejects (its own scope checks): `ast.parse` says they parse.
SYMTABLE_ONLY_ERRORS = [
    "nonlocal x\n",
    "def f(a):\n    global a\n",
    "def f(a, a):\n    pass\n",
    "def f():\n    from os import *\n",
    "x = 1\nglobal x\n",
    "def f():\n    x = 1\n    global x\n",
    "def f():\n    nonlocal y\n",
    "def f():\n    global x\n    x: int = 1\n",
    "[(y := 1) for y in range(3)]\n",
    "class C:\n    [(z := 1) for y in range(3)]\n",
    "def f():\n    x = 1\n    def g():\n        nonlocal x\n        global x\n",
]


@pytest.mark.parametrize("source", SYMTABLE_ONLY_ERRORS)
def test_symtable_errors_fall_back_to_ast_parse(source):
    text = SIX + "\n" + source
    assert not _symtable_builds(text)  # the case really takes the fallback
    assert _ast_parses(text)
    assert python_parses(text)


@pytest.mark.parametrize(
    "text",
    [
        SIX,
        SIX + "\nx = 1\x00\n",
        SIX + "\nx = '\ud800'\n",
        SIX + '\nPATTERN = "\\d+\\s*\\w"\nRAW = b"\\q"\n',
        SIX.replace("def ", "def (", 1),
        "x = (" * 199 + "1" + ")" * 199 + "\n",
        "x = (" * 201 + "1" + ")" * 201 + "\n",
        "x = " + "-" * 3000 + "1\n",
        "if x:\n" + "".join(" " * i + "if x:\n" for i in range(1, 99)) + " " * 99 + "pass\n",
        "if x:\n" + "".join(" " * i + "if x:\n" for i in range(1, 101)) + " " * 101 + "pass\n",
        "",
        "\ufeffx = 1\n",
        "# -*- coding: latin-1 -*-\ns = 'é'\n",
        "print 'py2'\n",
        "match x:\n    case [a, *rest] if a:\n        pass\n",
    ],
)
def test_same_verdict_as_ast_parse_on_edge_inputs(text):
    assert python_parses(text) == _ast_parses(text)


def test_edge_inputs_cover_both_verdicts():
    assert python_parses(SIX + '\nPATTERN = "\\d+"\n')
    assert not python_parses(SIX + "\nx = 1\x00\n")
    assert not python_parses(SIX + "\nx = '\ud800'\n")


def test_warnings_as_errors_do_not_change_the_verdict():
    text = SIX + '\nPATTERN = "\\d+"\n'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert python_parses(text)
        with pytest.raises(SyntaxError):
            ast.parse(text)  # without the filter the escape warning would be an error


def _name(i: int) -> str:
    letters = string.ascii_lowercase
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += letters[r]
        if not i:
            return "v" + out


def _chain(kind: str, n: int) -> str:
    """A statement whose tree is about n levels deep, without brackets nesting deeper than the tokenizer allows."""
    if kind == "sum":
        return "x = " + "+".join(["a"] * n) + "\n"
    if kind == "attributes":
        return "x = a" + ".b" * n + "\n"
    if kind == "calls_with_keywords":
        return "x = f" + "(k=1)" * n + "\n"
    if kind == "unary":
        return "x = " + "-" * n + "1\n"
    if kind == "lambda_bodies":
        return "x = " + "lambda: " * n + "1\n"
    if kind == "elif":
        return "if a:\n    pass\n" + "elif a:\n    pass\n" * n
    if kind == "annotation_sum":
        return "def f(a: " + "+".join(["a"] * n) + " = 1):\n    pass\n"
    if kind == "keyword_sum":
        return "f(k=" + "+".join(["a"] * n) + ")\n"
    if kind == "comprehension_sum":
        return "[y for y in " + "+".join(["a"] * n) + "]\n"
    if kind == "except_sum":
        return "try:\n    pass\nexcept " + "+".join(["a"] * n) + ":\n    pass\n"
    if kind == "fstring_sum":
        return "x = f'{" + "+".join(["a"] * n) + "}'\n"
    # Lambda defaults nest twice as deep in the conversion to objects as in symtable; a sum inside fills the rest.
    if kind == "lambda_defaults_sum":
        return "x = " + "lambda a=" * 700 + "+".join(["a"] * n) + ": a" * 700 + "\n"
    raise ValueError(kind)


def _first_failure(kind: str, check) -> int:
    lo, hi = 1, 6000
    while lo < hi:
        mid = (lo + hi) // 2
        if check(_chain(kind, mid)):
            lo = mid + 1
        else:
            hi = mid
    return lo


@pytest.mark.parametrize(
    "kind",
    [
        "sum",
        "attributes",
        "calls_with_keywords",
        "unary",
        "lambda_bodies",
        "elif",
        "annotation_sum",
        "keyword_sum",
        "comprehension_sum",
        "except_sum",
        "fstring_sum",
        "lambda_defaults_sum",
    ],
)
def test_same_verdict_as_ast_parse_at_the_recursion_budget(kind):
    """Around the depth where `ast.parse` starts to fail and the one where plain symtable does."""
    ast_limit = _first_failure(kind, _ast_parses)
    symtable_limit = _first_failure(kind, _symtable_builds)
    sizes = {n for limit in (ast_limit, symtable_limit) for n in range(max(limit - 4, 1), limit + 5)}
    sizes |= set(range(ast_limit, symtable_limit, max((symtable_limit - ast_limit) // 20, 1)))
    for n in sorted(sizes):
        text = _chain(kind, n)
        assert python_parses(text) == _ast_parses(text), (kind, n, ast_limit, symtable_limit)


def test_plain_symtable_would_accept_trees_ast_parse_cannot_convert():
    """The window the reduced budget closes: wide for lambda defaults, where the two depths part most."""
    text = _chain("lambda_defaults_sum", 1600)
    assert _symtable_builds(text) and not _ast_parses(text)
    assert not python_parses(text)
