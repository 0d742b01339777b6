"""The verifier contract: `Verifier.score(response, spec) -> Reward`, and the reward specs RL prompts carry.

A spec's `kind` names the verifier that scores it (NeMo Gym resource servers: math_with_judge, code_gen,
instruction_following; RECIPES.md 4.3), so a prompt row can carry its reward spec as plain JSON.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, model_validator


@dataclass(frozen=True)
class Reward:
    """A verifier's verdict: the reward value, whether it counts as solved, why, and what was checked."""

    value: float
    passed: bool
    reason: str  # "correct" / "passed" / "followed" when passed, else a named failure ("timeout", "wrong_answer")
    details: dict[str, Any] = field(default_factory=dict)


class MathSpec(BaseModel):
    """A math prompt's reference answer (LaTeX or plain, with or without `\\boxed{}`)."""

    kind: Literal["math"] = "math"
    answer: str


class CodeSpec(BaseModel):
    """A code prompt's tests: stdin/stdout or call-based (NeMo Gym code_gen), or assert-style (HumanEval)."""

    kind: Literal["code"] = "code"
    # NeMo Gym / LiveCodeBench layout: inputs[i] is stdin text (fn_name None) or the call's arguments (a list, or
    # a string of newline-separated JSON values); outputs[i] the expected stdout or return value.
    inputs: list[Any] = Field(default_factory=list)
    outputs: list[Any] = Field(default_factory=list)
    fn_name: str | None = None
    # HumanEval layout: prompt + completion + test + check(entry_point).
    test: str | None = None
    entry_point: str | None = None
    prompt: str = ""  # prepended to the completion (HumanEval's function signature and docstring)

    @model_validator(mode="after")
    def _one_layout(self) -> CodeSpec:
        if self.test is not None:
            if not self.entry_point:
                raise ValueError("code spec: `test` needs `entry_point` (the function check() is called with)")
        elif not self.inputs:
            raise ValueError("code spec: give `inputs`/`outputs` (stdin or call-based) or `test` + `entry_point`")
        elif len(self.inputs) != len(self.outputs):
            raise ValueError(f"code spec: {len(self.inputs)} inputs but {len(self.outputs)} outputs")
        return self

    @property
    def style(self) -> str:
        """ "assert", "call" or "stdio"."""
        if self.test is not None:
            return "assert"
        return "call" if self.fn_name else "stdio"


class IFEvalSpec(BaseModel):  # type: ignore[no-redef]  # field `kwargs` (IFEval's name) vs the plugin's __init__(**kwargs)
    """An instruction-following prompt's constraints, as IFEval's `instruction_id_list` and `kwargs`."""

    kind: Literal["ifeval"] = "ifeval"
    instruction_id_list: list[str]
    kwargs: list[dict[str, Any]] = Field(default_factory=list)
    prompt: str = ""  # combination:repeat_prompt compares against `prompt_to_repeat` in kwargs, not this
    grading: Literal["all", "fraction"] = "all"  # NeMo Gym instruction_following grading_mode
    loose: bool = False  # IFEval's loose variant: also try the response without first/last line and '*'

    @model_validator(mode="after")
    def _kwargs_per_instruction(self) -> IFEvalSpec:
        if not self.kwargs:
            self.kwargs = [{} for _ in self.instruction_id_list]
        if len(self.kwargs) != len(self.instruction_id_list):
            raise ValueError(
                f"ifeval spec: {len(self.instruction_id_list)} instruction ids but {len(self.kwargs)} kwargs dicts"
            )
        return self


RewardSpec = Annotated[MathSpec | CodeSpec | IFEvalSpec, Field(discriminator="kind")]
_SPEC_ADAPTER: TypeAdapter = TypeAdapter(RewardSpec)


def parse_spec(spec: RewardSpec | dict[str, Any]) -> MathSpec | CodeSpec | IFEvalSpec:
    """A spec model from a model or a JSON-like dict with a `kind` field."""
    if isinstance(spec, (MathSpec, CodeSpec, IFEvalSpec)):
        return spec
    return _SPEC_ADAPTER.validate_python(spec)


SpecT = TypeVar("SpecT", MathSpec, CodeSpec, IFEvalSpec)


def spec_of(spec: Any, model: type[SpecT]) -> SpecT:
    """`spec` as a `model` instance; a spec of another kind is refused (ValueError naming both kinds)."""
    parsed = parse_spec(spec)
    if not isinstance(parsed, model):
        raise ValueError(f"a {parsed.kind!r} spec was given to the {model.model_fields['kind'].default!r} verifier")
    return parsed


class Verifier(ABC):
    """Scores one response against one spec of its `kind`."""

    kind: ClassVar[str]

    @abstractmethod
    def score(self, response: str, spec: Any) -> Reward:
        """The reward for `response` under `spec`."""

    def close(self) -> None:
        """Release worker processes; the verifier stays usable (they restart on demand)."""
