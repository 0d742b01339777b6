"""Code rewards: the candidate program against its tests, one sandboxed process per test (NeMo Gym code_gen).

Three test layouts (RECIPES.md 4.3): stdin/stdout (compare printed output), call-based (`fn_name` called with
the test's arguments, as LiveCodeBench: a `Solution` class method if the code defines one, else a function) and
assert-style (HumanEval: prompt + completion + test + `check(entry_point)`). The reward is 1.0 only if every
test passes. Call and assert harnesses report through fd 3 with a per-run token, so a program that exits early
with status 0 (`sys.exit(0)`, `os._exit(0)`) before its tests ran does not pass.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from pydantic import BaseModel, Field

from corpusforge.synthetic.verifiers.base import CodeSpec, Reward, Verifier, spec_of
from corpusforge.synthetic.verifiers.sandbox import RunResult, Sandbox, SandboxConfig

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

# Harness for call-based tests: the candidate is imported as a module named "solution" (so its `__main__`
# block does not run, as in LiveCodeBench), its arguments come on stdin, the return value goes to fd 3.
_CALL_HARNESS = """\
import importlib.util as _u, json as _j, os as _o, sys as _s
_args = _j.loads(_s.stdin.read())
_spec = _u.spec_from_file_location("solution", "solution.py")
_m = _u.module_from_spec(_spec)
_s.modules["solution"] = _m
_spec.loader.exec_module(_m)
_f = getattr(_m.Solution(), {fn!r}) if hasattr(_m, "Solution") and hasattr(_m.Solution, {fn!r}) else getattr(_m, {fn!r})
_r = _f(*_args)
try:
    _out = _j.dumps(_r)
except (TypeError, ValueError):
    _out = _j.dumps(repr(_r))
_o.write(3, ({token!r} + _out).encode())
"""
_ASSERT_TAIL = """

check({entry_point})
import os as _cf_os
_cf_os.write(3, {token!r}.encode())
"""


def extract_code(response: str) -> str:
    """The last fenced code block of `response` (LiveCodeBench `extract_code`), else the whole response."""
    blocks = _FENCE.findall(response)
    return blocks[-1][1] if blocks else response


def _imports_of(prompt: str) -> str:
    return "\n".join(line for line in prompt.splitlines() if re.match(r"\s*(import|from)\s+\w", line))


def assert_program(spec: CodeSpec, code: str, token: str) -> str:
    """HumanEval's program: prompt + completion (or the response's own full definition) + test + check()."""
    assert spec.test is not None and spec.entry_point is not None, "assert_program needs an assert-style spec"
    if re.search(rf"^\s*def\s+{re.escape(spec.entry_point)}\s*\(", code, re.MULTILINE):
        body = _imports_of(spec.prompt) + "\n" + code
    else:
        body = spec.prompt + code
    return body + "\n\n" + spec.test + _ASSERT_TAIL.format(entry_point=spec.entry_point, token=token)


def _call_args(value: Any) -> list:
    """A call's arguments: a JSON list, or LiveCodeBench's newline-separated JSON values."""
    if isinstance(value, str):
        return [json.loads(line) for line in value.split("\n") if line.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _expected_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return json.loads(json.dumps(value))  # tuples become lists, as the program's JSON result does


def _tokens_equal(got: str, want: str) -> bool:
    if got == want:
        return True
    if _NUMBER.match(got) and _NUMBER.match(want):
        return math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-6)
    return False


def stdout_matches(got: str, want: str) -> bool:
    """Line-wise comparison ignoring trailing whitespace and blank trailing lines; numbers within 1e-6."""
    got_lines = [line.strip() for line in got.strip().splitlines()]
    want_lines = [line.strip() for line in want.strip().splitlines()]
    if got_lines == want_lines:
        return True
    got_tokens, want_tokens = got.split(), want.split()
    return len(got_tokens) == len(want_tokens) and all(map(_tokens_equal, got_tokens, want_tokens))


class CodeVerifierConfig(BaseModel):
    """How tests are run. NeMo Gym code_gen: 8 processes, 10 s per unit test, stop at the first failure."""

    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    workers: int = Field(default_factory=lambda: min(8, os.cpu_count() or 1), gt=0)
    stop_on_first_failure: bool = True


class CodeVerifier(Verifier):
    """Reward 1.0 when the response's code passes every test of a `CodeSpec`, else 0.0 with the first failure."""

    kind = "code"

    def __init__(self, config: CodeVerifierConfig | None = None, sandbox: Sandbox | None = None):
        self.config = config or CodeVerifierConfig()
        self.sandbox = sandbox or Sandbox(self.config.sandbox)
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="code-verifier")

    def score(self, response: str, spec: CodeSpec | dict) -> Reward:
        """Run every test of `spec` on the code in `response`."""
        spec = spec_of(spec, CodeSpec)
        code = extract_code(response)
        if not code.strip():
            return Reward(0.0, False, "no_code", {"tests": 0, "passed": 0})
        n = 1 if spec.style == "assert" else len(spec.inputs)
        futures: dict[Future, int] = {self._pool.submit(self.run_test, spec, code, i): i for i in range(n)}
        outcomes: list[str | None] = [None] * n
        failed = False
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                i = futures.pop(fut)
                outcomes[i] = fut.result()
                failed = failed or outcomes[i] != "passed"
            if failed and self.config.stop_on_first_failure:
                for fut in futures:
                    fut.cancel()
                for fut in [f for f in futures if not f.cancelled()]:
                    outcomes[futures[fut]] = fut.result()
                break
        passed = sum(o == "passed" for o in outcomes)
        details = {"tests": n, "passed": passed, "outcomes": outcomes}
        if passed == n:
            return Reward(1.0, True, "passed", details)
        first = next(o for o in outcomes if o not in (None, "passed"))
        return Reward(0.0, False, first, details)

    def run_test(self, spec: CodeSpec, code: str, index: int) -> str:
        """Run test `index` of `spec`; "passed" or the failure's name (wrong_answer, runtime_error, timeout...)."""
        token = secrets.token_hex(16)
        if spec.style == "assert":
            run = self.sandbox.run({"main.py": assert_program(spec, code, token)}, want_result=True)
            return self._judge(run, token, lambda value: True)
        if spec.style == "call":
            args = json.dumps(_call_args(spec.inputs[index]))
            harness = _CALL_HARNESS.format(fn=spec.fn_name, token=token)
            run = self.sandbox.run({"main.py": harness, "solution.py": code}, stdin=args, want_result=True)
            want = _expected_value(spec.outputs[index])
            return self._judge(run, token, lambda value: json.loads(value) == want)
        run = self.sandbox.run({"main.py": code}, stdin=str(spec.inputs[index]))
        if run.outcome != "ok":
            return "runtime_error" if run.outcome == "runtime_error" else run.outcome
        got = run.stdout.decode("utf-8", errors="replace")
        return "passed" if stdout_matches(got, str(spec.outputs[index])) else "wrong_answer"

    @staticmethod
    def _judge(run: RunResult, token: str, accept) -> str:
        if run.outcome not in ("ok", "runtime_error"):
            return run.outcome
        report = run.result.decode("utf-8", errors="replace")
        if run.outcome == "runtime_error":
            return "assertion_failed" if b"AssertionError" in run.stderr[-4096:] else "runtime_error"
        if not report.startswith(token):
            return "no_result"  # exited 0 before the harness reported: an early exit, not a pass
        try:
            return "passed" if accept(report[len(token) :]) else "wrong_answer"
        except ValueError:
            return "wrong_answer"

    def close(self) -> None:
        """Stop the test threads (a later score() call restarts them)."""
        self._pool.shutdown(wait=True)
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="code-verifier")
