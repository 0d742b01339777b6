"""RL prompts with a verifiable reward spec (NeMo Gym's math_with_judge, code_gen, instruction_following; RECIPES 4.3).

- math: GSM8K-style word problems whose reference answer the generator computes (templates with drawn numbers,
  the answer an arithmetic expression of them, evaluated exactly), or a teacher writes a problem with its answer
  after GSM8K-train examples and the answer is kept only if the teacher, solving the problem again k times,
  agrees with it by majority (OpenMathInstruct-2's answer-match filter);
- code: exercises with unit tests, stdin/stdout or call-based; the expected outputs come from running the
  reference solution in the verifiers' sandbox, and the reference must then pass its own tests through the code
  verifier (seed tasks, or exercises a teacher writes);
- instruction following: a base request plus IFEval instructions with kwargs drawn from the registry the
  verifiers implement (ifeval_instructions.py).
"""

from __future__ import annotations

import ast
import json
import operator
import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.synthetic.backends.base import ChatRequest, SamplingSettings
from corpusforge.synthetic.generation import (
    GeneratorConfig,
    GeneratorStage,
    is_prompt,
    is_seed,
    reply_reason,
    seed_record,
    user_text,
)
from corpusforge.synthetic.tasks.ifeval_instructions import draw_instructions
from corpusforge.synthetic.verifiers import Verifiers

MATH_INSTRUCTION = "Solve the problem step by step, then give the final answer as \\boxed{answer}."
CODE_INSTRUCTION = "Write your solution in Python, in one ```python code block."


# ----------------------------------------------------------------------------- exact arithmetic for templates

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMP = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCS: dict[str, Any] = {"min": min, "max": max, "abs": abs}


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """An arithmetic expression over `names` in exact fractions: + - * / // % ** (exponent <= 10), comparisons,
    and/or/not, min/max/abs. Anything else is a ValueError (templates are data, never code)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return Fraction(str(node.value))
        if isinstance(node, ast.Name) and node.id in names:
            v = names[node.id]
            return Fraction(v) if isinstance(v, int) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and (right.denominator != 1 or abs(right) > 10):
                raise ValueError("exponent must be an integer up to 10")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            v = ev(node.operand)
            return not v if isinstance(node.op, ast.Not) else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if not _CMP[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])
        raise ValueError(f"not allowed in a template expression: {ast.dump(node)[:80]}")

    try:
        return ev(ast.parse(expression, mode="eval"))
    except (SyntaxError, ZeroDivisionError, TypeError) as e:
        raise ValueError(f"{expression!r}: {e}") from None


def format_number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


class MathTemplate(BaseModel):
    """A word problem with `{name}` fields: `vars` maps a name to "lo..hi" (an integer drawn) or a list (one
    item drawn); `answer` and `require` are expressions of them."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    answer: str
    vars: dict[str, str | list[Any]]
    require: str | None = None
    integer: bool = True  # GSM8K answers are integers: draws that give a fraction are redrawn


class MathSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["rl_math"] = "rl_math"
    category: str = "math"
    mode: Literal["templates", "teacher"] = "templates"
    templates: list[MathTemplate] = []
    per_template: int = Field(3, ge=1)
    n: int = Field(4, ge=1)  # teacher mode: problems asked for
    examples_path: str | None = None  # teacher mode: GSM8K-style JSONL ({question, answer ending "#### N"})
    n_examples: int = Field(2, ge=1)


def draw_problem(template: MathTemplate, rng: random.Random, tries: int = 50) -> tuple[str, str] | None:
    """(problem text, reference answer) with numbers drawn until `require` holds and the answer fits."""
    for _ in range(tries):
        names: dict[str, Any] = {}
        for name, spec in template.vars.items():
            if isinstance(spec, str) and ".." in spec:
                lo, hi = (int(x) for x in spec.split(".."))
                names[name] = rng.randint(lo, hi)
            elif isinstance(spec, list) and spec:
                names[name] = rng.choice(spec)
            else:
                raise ValueError(f"template {template.id}: vars.{name} must be 'lo..hi' or a list")
        numeric = {k: v for k, v in names.items() if isinstance(v, int)}
        if template.require and not evaluate(template.require, numeric):
            continue
        value = evaluate(template.answer, numeric)
        if template.integer and value.denominator != 1:
            continue
        return template.text.format(**names), format_number(value)
    return None


_FIELD = re.compile(r"^\s*(problem|solution|answer|function|tests)\s*:\s*", re.IGNORECASE | re.MULTILINE)


def labelled_parts(text: str) -> dict[str, str]:
    """`Label: value` sections of a reply (Problem, Solution, Answer, Function, Tests), lower-cased labels."""
    parts: dict[str, str] = {}
    spans = list(_FIELD.finditer(text))
    for i, m in enumerate(spans):
        end = spans[i + 1].start() if i + 1 < len(spans) else len(text)
        parts.setdefault(m.group(1).lower(), text[m.end() : end].strip())
    return parts


class RLMathPrompts(GeneratorStage):
    """Seeds `seed/rl_math` -> math prompts with a reference answer (`reward_spec` kind math)."""

    type = "rl_math_prompts"
    config: Config
    prompt_prefix = "rl_math"

    class Config(GeneratorConfig):
        type: Literal["rl_math_prompts"] = "rl_math_prompts"
        instruction: str = MATH_INSTRUCTION  # appended to each problem
        k: int = Field(4, ge=1)  # teacher mode: solutions sampled for the majority check
        min_agreement: float = Field(0.5, gt=0, le=1)  # share of them that must reach the teacher's answer
        solve_sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.95, max_tokens=512)
        min_words: int = Field(8, ge=0)

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "rl_math")

    def setup(self) -> None:
        super().setup()
        self._verifiers: Verifiers | None = None

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        teacher = []
        for doc in docs:
            try:
                seed = MathSeed(**seed_record(doc))
            except (ValidationError, ValueError, TypeError):
                self.fail(doc, "invalid_seed")
                continue
            if seed.mode == "teacher":
                teacher.append((doc, seed))
                continue
            yield from self._from_templates(doc, seed)
        if teacher:
            yield from self._from_teacher(teacher)

    def _math_prompt(self, doc: Document, seed: MathSeed, problem: str, answer: str, steps: list[dict]) -> Document:
        content = f"{problem}\n\n{self.config.instruction}"
        return self.item(
            doc,
            [{"role": "user", "content": content}],
            "rl_math",
            seed.category,
            steps,
            reward_spec={"kind": "math", "answer": answer},
            inherit_steps=False,
        )

    def _from_templates(self, doc: Document, seed: MathSeed) -> Iterator[Document]:
        for template in seed.templates:
            rng = random.Random(f"{doc.id}/{template.id}")
            for i in range(seed.per_template):
                try:
                    drawn = draw_problem(template, rng)
                except (ValueError, KeyError, IndexError):
                    drawn = None
                    self.reject(doc, "bad_template", template.text)
                    continue
                if drawn is None:
                    self.reject(doc, "no_valid_draw", template.text)
                    continue
                problem, answer = drawn
                step = {
                    "step": f"{self.name}.template",
                    "prompt": f"template:{template.id}",
                    "model": "",
                    "sampling": json.dumps({"draw": i}),
                }
                yield self.emit(doc, self._math_prompt(doc, seed, problem, answer, [step]))

    def _from_teacher(self, seeds: list[tuple[Document, MathSeed]]) -> Iterator[Document]:
        asked = []
        for doc, seed in seeds:
            examples = _gsm8k_examples(seed.examples_path, seed.n_examples * seed.n, random.Random(doc.id))
            if not examples:
                self.fail(doc, "no_examples")
                continue
            for i in range(seed.n):
                shots = examples[i * seed.n_examples : (i + 1) * seed.n_examples] or examples[: seed.n_examples]
                text = "\n\n".join(f"Problem: {q}\nSolution: {s}\nAnswer: {a}" for q, s, a in shots)
                asked.append((doc, seed, self.request("problem", variant=str(i), examples=text)))
        drafts = []
        for (doc, seed, _), reply in zip(asked, self.ask([r for _, _, r in asked])):
            parts = labelled_parts(reply.text) if reply.ok else {}
            problem, answer = parts.get("problem", ""), parts.get("answer", "").strip().rstrip(".")
            reason = reply_reason(reply) or (None if problem else "unparsed_problem")
            reason = reason or (None if re.fullmatch(r"-?[\d,]*\.?\d+(/\d+)?", answer) else "no_reference_answer")
            reason = reason or self.length_reason(problem)
            if reason:
                self.reject(doc, reason, problem or reply.text)
                continue
            drafts.append((doc, seed, problem, answer.replace(",", "")))
        yield from self._majority(drafts)

    def _majority(self, drafts: list[tuple[Document, MathSeed, str, str]]) -> Iterator[Document]:
        """Keep a teacher's problem when at least `min_agreement` of k fresh solutions reach its answer."""
        c = self.config
        if self._verifiers is None:
            self._verifiers = Verifiers()
        verifiers = self._verifiers
        settings = [c.solve_sampling.model_copy(update={"seed": (c.solve_sampling.seed or 0) + j}) for j in range(c.k)]
        requests = [
            (ChatRequest([{"role": "user", "content": f"{p}\n\n{c.instruction}"}], s), "rl_math_solve")
            for _, _, p, _ in drafts
            for s in settings
        ]
        replies = self.ask(requests)
        for n, (doc, seed, problem, answer) in enumerate(drafts):
            sols = replies[n * c.k : (n + 1) * c.k]
            spec = {"kind": "math", "answer": answer}
            agree = sum(1 for r in sols if r.ok and verifiers.score(r.text, spec).passed)
            self.ledger.histogram("teacher_agreement", f"{agree}/{c.k}")
            if agree / c.k < c.min_agreement:
                self.reject(doc, "no_majority", problem)
                continue
            steps = [
                self.step_record("problem"),
                {
                    "step": f"{self.name}.majority",
                    "prompt": "rl_math_solve",
                    "model": self.backend.model,
                    "agreement": f"{agree}/{c.k}",
                    "sampling": settings[0].as_json(),
                },
            ]
            yield self.emit(doc, self._math_prompt(doc, seed, problem, answer, steps))

    def close(self) -> None:
        if self._verifiers is not None:
            self._verifiers.close()


def _gsm8k_examples(path: str | None, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, solution without calculator marks, final answer) of n records drawn from a GSM8K-style file."""
    if not path or not storage.exists(path):
        return []
    rows = [json.loads(line) for line in storage.read_text(path).splitlines() if line.strip()]
    out = []
    for row in rng.sample(rows, min(n, len(rows))):
        solution, _, final = str(row.get("answer", "")).rpartition("####")
        out.append((row["question"], re.sub(r"<<[^>]*>>", "", solution).strip(), final.strip()))
    return out


# ----------------------------------------------------------------------------- code


class CodeTask(BaseModel):
    """An exercise: its statement, the reference solution, test inputs (stdin text, or call arguments)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    solution: str
    inputs: list[Any] = Field(min_length=1)
    fn_name: str | None = None  # call-based when set, else stdin/stdout


class CodeSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["rl_code"] = "rl_code"
    category: str = "coding"
    mode: Literal["tasks", "teacher"] = "tasks"
    tasks: list[CodeTask] = []
    n: int = Field(2, ge=1)  # teacher mode: exercises asked for


_CALL_RUNNER = """\
import json, sys
import solution
args = json.loads(sys.stdin.read())
print(json.dumps(getattr(solution, {fn!r})(*args)))
"""
_CODE_BLOCK = re.compile(r"```(?:python)?\s*\n(.*?)```", re.DOTALL)


class RLCodePrompts(GeneratorStage):
    """Seeds `seed/rl_code` -> code prompts with unit tests (`reward_spec` kind code)."""

    type = "rl_code_prompts"
    config: Config
    prompt_prefix = "rl_code"

    class Config(GeneratorConfig):
        type: Literal["rl_code_prompts"] = "rl_code_prompts"
        instruction: str = CODE_INSTRUCTION
        min_tests: int = Field(3, ge=1)
        sandbox_workers: int = Field(2, ge=1)

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "rl_code")

    def setup(self) -> None:
        super().setup()
        from corpusforge.synthetic.verifiers.code import CodeVerifier

        self._verifier = CodeVerifier()

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        candidates: list[tuple[Document, CodeSeed, CodeTask, list[dict]]] = []
        teacher = []
        for doc in docs:
            try:
                seed = CodeSeed(**seed_record(doc))
            except (ValidationError, ValueError, TypeError):
                self.fail(doc, "invalid_seed")
                continue
            if seed.mode == "teacher":
                teacher.append((doc, seed))
                continue
            step = {"step": f"{self.name}.seed_task", "prompt": "seed", "model": "", "sampling": ""}
            candidates += [(doc, seed, t, [step]) for t in seed.tasks]
        candidates += self._from_teacher(teacher)
        with ThreadPoolExecutor(self.config.sandbox_workers) as pool:
            results = list(pool.map(lambda c: self._tests(c[2]), candidates))
        for (doc, seed, task, steps), (spec, reason) in zip(candidates, results):
            if reason:
                self.reject(doc, reason, task.prompt)
                continue
            content = f"{task.prompt}\n\n{self.config.instruction}"
            yield self.emit(
                doc,
                self.item(
                    doc,
                    [{"role": "user", "content": content}],
                    "rl_code",
                    seed.category,
                    steps,
                    reward_spec=spec,
                    inherit_steps=False,
                ),
            )

    def _from_teacher(self, seeds: list[tuple[Document, CodeSeed]]) -> list:
        asked = []
        for doc, seed in seeds:
            example = seed.tasks[0] if seed.tasks else None
            if example is None:
                self.fail(doc, "no_example_task")
                continue
            tests = "\n".join(json.dumps(i) for i in example.inputs)
            shown = (
                f"Problem: {example.prompt}\nFunction: {example.fn_name or '(reads stdin)'}\n"
                f"Solution:\n```python\n{example.solution.strip()}\n```\nTests:\n{tests}"
            )
            asked += [(doc, seed, self.request("problem", variant=str(i), example=shown)) for i in range(seed.n)]
        out: list[tuple[Document, CodeSeed, CodeTask, list[dict]]] = []
        for (doc, seed, _), reply in zip(asked, self.ask([r for _, _, r in asked])):
            parts = labelled_parts(reply.text) if reply.ok else {}
            code = _CODE_BLOCK.search(parts.get("solution", ""))
            fn = parts.get("function", "").strip().strip("`").split("(")[0].strip()
            inputs = []
            for line in parts.get("tests", "").splitlines():
                try:
                    value = json.loads(line.strip())
                except ValueError:
                    continue
                if isinstance(value, list):
                    inputs.append(value)
            if not (parts.get("problem") and code and re.fullmatch(r"[A-Za-z_]\w*", fn or "")):
                self.reject(doc, reply_reason(reply) or "unparsed_problem", reply.text)
                continue
            if len(inputs) < self.config.min_tests:
                self.reject(doc, "too_few_tests", parts["problem"])
                continue
            task = CodeTask(
                id=f"teacher-{len(out)}", prompt=parts["problem"], solution=code.group(1), inputs=inputs, fn_name=fn
            )
            out.append((doc, seed, task, [self.step_record("problem")]))
        return out

    def _tests(self, task: CodeTask) -> tuple[dict | None, str | None]:
        """The reward spec with outputs from the reference solution, or why there is none."""
        if len(task.inputs) < self.config.min_tests:
            return None, "too_few_tests"
        sandbox = self._verifier.sandbox
        outputs = []
        for args in task.inputs:
            if task.fn_name:
                run = sandbox.run(
                    {"main.py": _CALL_RUNNER.format(fn=task.fn_name), "solution.py": task.solution},
                    stdin=json.dumps(args),
                )
            else:
                run = sandbox.run({"main.py": task.solution}, stdin=str(args))
            if run.outcome != "ok":
                return None, f"reference_{run.outcome}"
            out = run.stdout.decode("utf-8", "replace")
            if task.fn_name:
                try:
                    outputs.append(json.loads(out))
                except ValueError:
                    return None, "reference_unserialisable_output"
            else:
                outputs.append(out)
        spec = {"kind": "code", "inputs": task.inputs, "outputs": outputs, "fn_name": task.fn_name}
        if not self._verifier.score(f"```python\n{task.solution}\n```", spec).passed:
            return None, "reference_fails_own_tests"
        return spec, None

    def close(self) -> None:
        self._verifier.close()


# ----------------------------------------------------------------------------- instruction following


class IFEvalSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["rl_ifeval"] = "rl_ifeval"
    category: str = "instruction_following"
    base_prompts: list[str] = []
    per_prompt: int = Field(1, ge=1)
    instructions: tuple[int, int] = (1, 3)  # instructions per prompt, drawn in this range
    allowed: list[str] = []  # instruction ids to draw from (empty: all 25)


class RLIFEvalPrompts(GeneratorStage):
    """Seeds `seed/rl_ifeval` (and, with `from_categories`, earlier prompts) -> prompts with IFEval instructions."""

    type = "rl_ifeval_prompts"
    config: Config
    needs_model = False

    class Config(GeneratorConfig):
        type: Literal["rl_ifeval_prompts"] = "rl_ifeval_prompts"
        from_categories: list[str] = []  # also turn SFT prompts of these categories into RL prompts
        seed: int = 0

    config: Config

    def applies(self, doc: Document) -> bool:
        return is_seed(doc, "rl_ifeval") or (
            bool(self.config.from_categories)
            and is_prompt(doc)
            and not doc.meta.get("reward_spec")
            and doc.meta.get("category") in self.config.from_categories
        )

    def generate(self, docs: list[Document]) -> Iterator[Document]:
        for doc in docs:
            if is_seed(doc):
                try:
                    seed = IFEvalSeed(**seed_record(doc))
                except (ValidationError, ValueError, TypeError):
                    self.fail(doc, "invalid_seed")
                    continue
                bases = seed.base_prompts
            else:
                seed, bases = IFEvalSeed(), [user_text(doc.meta["messages"])]
            if not bases:
                self.fail(doc, "no_base_prompts")
            for b, base in enumerate(bases):
                for i in range(seed.per_prompt):
                    rng = random.Random(f"{self.config.seed}/{doc.id}/{b}/{i}")
                    ids, kwargs, descriptions = draw_instructions(
                        rng, base, rng.randint(*seed.instructions), seed.allowed or None
                    )
                    content = base.strip() + " " + " ".join(descriptions)
                    reason = self.length_reason(content)
                    if reason:
                        self.reject(doc, reason, content)
                        continue
                    spec = {"kind": "ifeval", "instruction_id_list": ids, "kwargs": kwargs, "prompt": content}
                    step = {
                        "step": f"{self.name}.instructions",
                        "prompt": "ifeval_registry",
                        "model": "",
                        "sampling": json.dumps({"seed": self.config.seed, "draw": [b, i]}),
                    }
                    yield self.emit(
                        doc,
                        self.item(
                            doc,
                            [{"role": "user", "content": content}],
                            "rl_ifeval",
                            seed.category,
                            [step],
                            reward_spec=spec,
                        ),
                    )
