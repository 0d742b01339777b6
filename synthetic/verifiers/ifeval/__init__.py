"""IFEval instruction-following checkers and the verifier that scores a response against an instruction list."""

from corpusforge.synthetic.verifiers.ifeval.checkers import (
    CHECKERS,
    NEEDS_PUNKT,
    InstructionError,
    check_instruction,
)
from corpusforge.synthetic.verifiers.ifeval.verifier import (
    IFEvalVerifier,
    follows_instruction,
)

__all__ = ["CHECKERS", "NEEDS_PUNKT", "IFEvalVerifier", "InstructionError", "check_instruction", "follows_instruction"]
