"""OpenCoder's "Python must parse": `ast.parse`'s verdict, reached mostly without building the tree's objects.

`ast.parse(text)` is `compile(text, "<unknown>", "exec", PyCF_ONLY_AST)`: CPython's parser builds the tree in
an arena, `PyAST_mod2obj` turns every node into a Python object, and the caller frees them all at once.
`symtable.symtable(text, ..., "exec")` runs the same parser on a str with the same flags (`PyCF_IGNORE_COOKIE`,
the running feature version, no type comments) and walks the arena tree to build scopes instead, so it skips
the objects, which are most of the cost after the parse itself. The two differ in three ways, each handled:

- symtable raises errors of its own that `ast.parse` does not (`nonlocal` at module level, a parameter
  declared global, `import *` in a function, ...): on any error of symtable the verdict is `ast.parse`'s.
- both the symtable walk and the conversion to objects stop at a recursion budget of three levels a Python
  frame left below the recursion limit, but the conversion counts every node while symtable counts only
  statements and expressions: a keyword, comprehension, lambda's arguments, exception handler
  or with-item between two expressions counts twice in the conversion, so a tree symtable accepts can be too
  deep to convert (lambda defaults nested hundreds deep around a long sum). symtable is therefore
  run under less than half the conversion's budget, from `recursion limit / 2 + margin` frames deeper: a tree
  it accepts there is at most half as deep, plus a bounded number of levels (the module, function arguments,
  at most one a level of indentation, and patterns, at most one a bracket level: both capped by the
  tokenizer), which the margin covers. A deeper tree goes to `ast.parse`.
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

# Frames beyond half the recursion limit: 3 levels a frame, so 100 frames cover 300 levels the conversion
# counts and symtable does not, outside the doubled levels (module 1, function arguments <= 100 indentation
# levels, patterns <= 200 bracket levels).
_MARGIN_FRAMES = 100
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
