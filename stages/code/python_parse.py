"""OpenCoder's "Python must parse": `ast.parse`'s verdict, reached mostly without building the tree's objects.

`ast.parse(text)` is `compile(text, "<unknown>", "exec", PyCF_ONLY_AST)`: CPython's parser builds the tree in
an arena, `PyAST_mod2obj` turns every node into a Python object, and the caller frees them all at once.
`symtable.symtable(text, ..., "exec")` runs the same parser on a str with the same flags (`PyCF_IGNORE_COOKIE`,
the running feature version, no type comments) and walks the arena tree to build scopes instead, so it builds
and frees no per-node objects. The two differ in three ways, each handled:

- symtable raises errors of its own that `ast.parse` does not (`nonlocal` at module level, a parameter
  declared global, `import *` in a function, ...): on any error of symtable the verdict is `ast.parse`'s.
- both walks stop at a recursion budget (three levels for each Python frame left below the recursion limit)
  but count differently: symtable counts statements and expressions, the conversion every node, so a
  keyword, comprehension, lambda's arguments, exception handler or with-item between two expressions counts
  twice there, and a tree symtable accepts can be too deep to convert (lambda defaults nested hundreds deep
  around a long sum). symtable therefore runs `recursion limit / 2 + 120` frames deeper, under less than half
  the conversion's budget: the conversion's count of a tree it accepts there is at most twice symtable's plus
  a bounded extra (the module node; the second wrapper of function arguments, one an indentation level at
  most; patterns, one a bracket level at most; the tokenizer caps both), which the 120 frames (360 levels)
  cover. A tree symtable rejects there goes to `ast.parse`.
- the objects need memory symtable does not: `ast.parse` can raise MemoryError on a file symtable accepts.
  Files over OpenCoder's 3 MB cap are dropped before the parse, and a file's verdict must not depend on the
  machine's free memory, so that case is not followed.

Null bytes and lone surrogates fail the same way in both (the source is encoded to UTF-8 before the parse),
and the parser's warnings (invalid escape sequences, ...) are silenced for both: they are not errors.
"""

from __future__ import annotations

import ast
import gc
import symtable
import sys
import warnings

# Frames beyond half the recursion limit: 3 levels a frame, so 120 frames cover 360 levels the conversion
# counts beyond twice symtable's count (module 1, function arguments <= 100 indentation levels, patterns
# <= 200 bracket levels).
_MARGIN_FRAMES = 120
# With a recursion limit raised past this, the nested frames would cost more than they save: parse directly.
_MAX_EXTRA_FRAMES = 5_000
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def _symtable_from_deeper(frames: int, text: str) -> None:
    """Build the symbol table `frames` Python frames below the caller (each frame cuts symtable's budget)."""
    if frames:
        _symtable_from_deeper(frames - 1, text)
        return
    symtable.symtable(text, "<file>", "exec")


def _symtable_accepts(text: str) -> bool:
    """True only where `ast.parse` called from the caller's frame accepts the text too."""
    extra = sys.getrecursionlimit() // 2 + _MARGIN_FRAMES
    if extra > _MAX_EXTRA_FRAMES:
        return False
    try:
        _symtable_from_deeper(extra, text)
    except _PARSE_ERRORS:
        return False
    return True


def python_parses(text: str) -> bool:
    """`ast.parse` accepts the text (warnings such as invalid escapes are not errors)."""
    # Neither the tree nor the symbol table holds cycles and both are thrown away at once, so pausing the
    # cyclic collector saves the collections their many allocations trigger without changing what is freed.
    paused = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _symtable_accepts(text):
                return True
            ast.parse(text)
    except _PARSE_ERRORS:
        return False
    finally:
        if paused:
            gc.enable()
    return True
