"""IFEval scoring: strict or loose per instruction, then all-or-nothing or the fraction followed (NeMo Gym)."""

from __future__ import annotations

from corpusforge.synthetic.verifiers.base import (
    IFEvalSpec,
    Reward,
    Verifier,
    spec_of,
)
from corpusforge.synthetic.verifiers.ifeval.checkers import (
    InstructionError,
    check_instruction,
)


def loose_variants(response: str) -> list[str]:
    """IFEval's loose variants: the response without its first and/or last line, each with and without '*'."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [trimmed[0], trimmed[0].replace("*", ""), *trimmed[1:], *(t.replace("*", "") for t in trimmed[1:])]


def follows_instruction(response: str, instruction_id: str, kwargs: dict, loose: bool = False) -> bool:
    """Strict: the response follows the instruction; loose: any of IFEval's variants does. Empty never does."""
    candidates = loose_variants(response) if loose else [response]
    return any(c.strip() and check_instruction(instruction_id, c, kwargs) for c in candidates)


class IFEvalVerifier(Verifier):
    """Reward: 1.0 if every instruction is followed ("all") or the fraction followed ("fraction")."""

    kind = "ifeval"

    def score(self, response: str, spec: IFEvalSpec | dict) -> Reward:
        """Check each instruction of `spec` on `response`."""
        spec = spec_of(spec, IFEvalSpec)
        try:
            followed = [
                follows_instruction(response, iid, kw, spec.loose)
                for iid, kw in zip(spec.instruction_id_list, spec.kwargs)
            ]
        except InstructionError as exc:
            return Reward(0.0, False, "bad_spec", {"error": str(exc)})
        details = {
            "followed": [[iid, ok] for iid, ok in zip(spec.instruction_id_list, followed)],
            "n_followed": sum(followed),
            "n_instructions": len(followed),
        }
        all_followed = all(followed)
        value = float(all_followed) if spec.grading == "all" else sum(followed) / max(1, len(followed))
        reason = (
            "followed"
            if all_followed
            else "not_followed:" + ",".join(iid for iid, ok in zip(spec.instruction_id_list, followed) if not ok)
        )
        return Reward(value, all_followed, reason, details)
