"""LLM-rated code-quality labels (0-5) for training the code lane's quality classifier.

NeMo Curator's code-quality prompt (RECIPES.md §2.1) has an LLM grade a source file on a cumulative
0-5 rubric and end with "Final score: N"; the labels train a fast classifier that scores the whole
corpus, as FineWeb-Edu does for web pages. The prompt here is our own wording of that rubric
(`synthetic/prompts/code_quality_v<N>.txt`). Two ways to ask:

- `reasoned`: the model justifies, then writes "Final score: N", which is parsed. What a served
  instruction model (vLLM, NIM, SGLang) is asked.
- `digit`: the reply is begun for the model ("Final score:", an assistant prefill that the embedded
  model and `llm serve` continue, and vLLM / SGLang with `continue_final_message`), two tokens are
  generated (tokenizers that split the space from the number spend the first on the space), and the
  label is the expectation over the 0-5 digit tokens' probabilities where the number starts (G-Eval;
  the judge task's `rating_logprobs`). A small model that never reaches the rubric's last line (the
  embedded 135M model) gets a place to answer, at two generated tokens per file.

`agreement` measures how far the labels follow the heuristic code-quality score of
`stages/code/quality.py`, the check that tells whether a labeller is worth training on.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from corpusforge.classifiers.labels import LabelledText, LLMScoreLabeller, iter_records
from corpusforge.core import storage
from corpusforge.core.stats import StageStats

Mode = Literal["reasoned", "digit"]
MAX_SCORE = 5
PROMPT_NAME = "code_quality"
# Digit mode begins the reply here; vLLM and SGLang continue an assistant message only when asked to.
DIGIT_PREFILL = {"role": "assistant", "content": "Final score:"}
CONTINUE_FINAL_MESSAGE = {"continue_final_message": True, "add_generation_prompt": False}

_FINAL = re.compile(r"final\s+score\s*[:=]?\s*\**\s*([0-5])(?:\s*/\s*5)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class CodeSample:
    """A source file to label: its text, and the language and path the prompt names."""

    text: str
    language: str = ""
    path: str = ""


def parse_final_score(reply: str) -> float:
    """The N of the last "Final score: N" line of a reply (0-5)."""
    found = _FINAL.findall(reply)
    if not found:
        raise ValueError(f"no final score in reply: {reply[-200:]!r}")
    return float(found[-1])


def digit_score(reply: Any) -> float:
    """The probability-weighted 0-5 digit where the reply's number starts; the written digit without logprobs."""
    from corpusforge.synthetic.tasks.judge import digit_expectation

    # The first position with a digit among its alternatives: tokenizers that split the space from the number
    # (SmolLM2's, Qwen's) spend the first token on the space.
    for entry in reply.logprobs or ():
        value = digit_expectation(entry, MAX_SCORE)
        if value is not None:
            return value
    digits = re.findall(r"\b([0-5])\b", reply.text or "")
    if not digits:
        raise ValueError(f"no 0-5 digit in reply: {reply.text[-200:]!r}")
    return float(digits[0])


class LLMCodeQualityLabeller(LLMScoreLabeller):
    """Grades source files 0-5 with the code-quality prompt; integer labels (a digit expectation rounded)."""

    def __init__(
        self,
        backend,
        samples: Iterable[CodeSample],
        cache_path: str,
        *,
        mode: Mode = "reasoned",
        prompt=None,
        max_chars: int = 6_000,
        max_tokens: int = 256,
        ledger: StageStats | None = None,
    ):
        from corpusforge.synthetic.backends.base import SamplingSettings
        from corpusforge.synthetic.prompt_template import load_prompt

        if mode not in ("reasoned", "digit"):
            raise ValueError(f"mode must be reasoned or digit, got {mode!r}")
        self.mode = mode
        if mode == "digit":
            settings = SamplingSettings(temperature=0.0, max_tokens=2, logprobs=20)
            parse, follow_up = digit_score, [DIGIT_PREFILL]
        else:
            settings = SamplingSettings(temperature=0.0, max_tokens=max_tokens)
            parse, follow_up = (lambda reply: parse_final_score(reply.text)), []
        items = ((s.text, {"language": s.language or "unknown", "path": s.path or "unknown"}) for s in samples)
        super().__init__(
            backend,
            items,
            cache_path,
            prompt or load_prompt(PROMPT_NAME, "1"),
            parse,
            # The start of a file says what it is; a 135M-parameter context or a server's token bill need not
            # see megabyte files whole.
            max_chars=max_chars,
            settings=settings,
            follow_up=follow_up,
            ledger=ledger,
        )

    def labels(self) -> Iterator[LabelledText]:
        for row in super().labels():
            yield LabelledText(row.text, float(min(MAX_SCORE, max(0, round(row.label)))), row.origin)


def iter_code_samples(
    paths: Sequence[str], limit: int | None = None, min_chars: int = 200, seed: int | None = 0
) -> list[CodeSample]:
    """Source files from a code run's `data/*.parquet` (or JSONL with text, meta.language, meta.path).

    With `limit`, a uniform sample of that many (reservoir sampling, seeded), in input order."""
    import random

    rng = random.Random(seed)
    kept: list[tuple[int, CodeSample]] = []
    n = 0
    for path in storage.expand(list(paths)):
        for rec in iter_records(path):
            text = rec.get("text")
            if not text or len(text) < min_chars:
                continue
            meta = rec.get("meta") or {}
            item = (n, CodeSample(text, str(meta.get("language") or ""), str(meta.get("path") or "")))
            if limit is None or len(kept) < limit:
                kept.append(item)
            else:
                j = rng.randrange(n + 1)
                if j < limit:
                    kept[j] = item
            n += 1
    return [s for _, s in sorted(kept, key=lambda x: x[0])]


def agreement(labels: Sequence[float] | np.ndarray, heuristic: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """How far 0-5 labels follow the heuristic score: rank correlation, and agreement with it cut in six bins."""
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    y = np.asarray(labels, dtype=float)
    h = np.asarray(heuristic, dtype=float)
    if len(y) < 2:
        raise ValueError("agreement needs at least two labelled documents")
    bins = np.minimum(MAX_SCORE, (h * (MAX_SCORE + 1)).astype(int))
    rho = spearmanr(y, h).statistic if len(set(y)) > 1 and len(set(h)) > 1 else float("nan")
    return {
        "n": int(len(y)),
        "spearman": float(rho),
        "exact": float(np.mean(y == bins)),
        "within_1": float(np.mean(np.abs(y - bins) <= 1)),
        "quadratic_kappa": float(cohen_kappa_score(y.astype(int), bins, weights="quadratic", labels=list(range(6)))),
        "label_histogram": {str(k): int(v) for k, v in zip(*np.unique(y.astype(int), return_counts=True))},
    }


_KEEP_NAMES = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}


def degraded_copy(source: str) -> str:
    """The same Python file, harder to read: comments and docstrings gone, local names renamed to v<N>.

    The sanity set of a code-quality labeller: a rater that reads code scores the original higher."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    names: dict[str, str] = {}
    out = []
    prev_significant = None
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.COMMENT:
            continue
        if tok.type == tokenize.STRING and (
            prev_significant is None or prev_significant.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        ):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                out.append(tok._replace(string="''"))  # a docstring: keep the statement, drop its words
                prev_significant = tok
                continue
        if tok.type == tokenize.NAME and tok.string not in _KEEP_NAMES:
            after_dot = prev_significant is not None and prev_significant.string == "."
            if not after_dot:
                tok = tok._replace(string=names.setdefault(tok.string, f"v{len(names)}"))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev_significant = tok
        out.append(tok)
    return tokenize.untokenize([(t.type, t.string) for t in out])
