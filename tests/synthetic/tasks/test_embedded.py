"""The generators on the real embedded model (SmolLM2-135M, shared with the LLM layer's tests): Magpie over raw
completions of its own chat template, the judge reading digit log-probabilities, and the difficulty filter with
the model as the policy, its rollouts scored by the real verifiers."""

from __future__ import annotations

import json

import pytest

from corpusforge.core.document import Document
from corpusforge.synthetic.tasks.difficulty import DifficultyFilter
from corpusforge.synthetic.tasks.judge import LLMJudge
from corpusforge.synthetic.tasks.magpie import TEMPLATE_MARKERS, MagpiePrompts
from corpusforge.synthetic.tasks.responses import TeacherResponses
from corpusforge.synthetic.tasks.rl_prompts import RLIFEvalPrompts, RLMathPrompts

pytestmark = pytest.mark.slow  # decodes with the bundled model on CPU

EMBEDDED = {"type": "embedded", "batch_size": 8}


def test_magpie_responses_and_judge_on_the_embedded_model(embedded_backend):
    seed = Document("seed-m", json.dumps({"method": "magpie", "n": 4}), "seed/magpie", {})
    magpie = MagpiePrompts(
        backend=EMBEDDED, cache=False, min_words=2, sampling={"temperature": 1.0, "max_tokens": 64, "seed": 0}
    )
    prompts = list(magpie.run([seed]))
    assert magpie.ledger.balanced and magpie.ledger.docs_in == 4
    assert prompts, dict(magpie.ledger.dropped)
    for p in prompts:
        assert not any(m in p.text for m in TEMPLATE_MARKERS)
        step = json.loads(p.meta["generation"])[0]
        assert step["prompt"].startswith("<|im_start|>system") and step["prompt"].endswith("<|im_start|>user\n")
    answered = list(
        TeacherResponses(
            backend=EMBEDDED, cache=False, sampling={"max_tokens": 24}, postprocess={"on_truncated": "trim"}
        ).run(prompts)
    )
    judge = LLMJudge(backend=EMBEDDED, cache=False, mode="rating_logprobs", attributes=["helpfulness", "coherence"])
    judged = list(judge.run(answered))
    assert judge.ledger.balanced and judge.ledger.extra["llm_requests"] == 2 * len(answered)
    for d in judged:  # an expectation over digit tokens: strictly inside the scale
        assert set(d.annotations["scores"]) == {"judge_helpfulness", "judge_coherence"}
        assert all(0.0 <= v <= 4.0 for v in d.annotations["scores"].values())


def test_difficulty_filter_with_the_embedded_policy(embedded_backend):
    math_seed = {
        "method": "rl_math",
        "per_template": 1,
        "templates": [
            {"id": "sum", "text": "What is {a} plus {b}?", "answer": "a + b", "vars": {"a": "2..9", "b": "2..9"}},
            {
                "id": "prod",
                "text": "A box holds {a} rows of {b} eggs. How many eggs?",
                "answer": "a * b",
                "vars": {"a": "2..6", "b": "2..6"},
            },
        ],
    }
    if_seed = {
        "method": "rl_ifeval",
        "base_prompts": ["Say hello."],
        "instructions": [1, 1],
        "allowed": ["change_case:english_lowercase"],
    }
    seeds = [
        Document("seed-a", json.dumps(math_seed), "seed/rl_math", {}),
        Document("seed-b", json.dumps(if_seed), "seed/rl_ifeval", {}),
    ]
    prompts = list(RLIFEvalPrompts().run(RLMathPrompts(backend=EMBEDDED, cache=False).run(seeds)))
    assert len(prompts) == 3
    stage = DifficultyFilter(
        backend=EMBEDDED,
        cache=False,
        k=3,
        keep=["mixed", "all_high", "all_low", "flat_middle"],
        sampling={"temperature": 1.0, "max_tokens": 48, "seed": 0},
    )
    out = list(stage.run(prompts))
    led = stage.ledger
    assert led.balanced and len(out) == 3 and led.extra["llm_requests"] == 9
    assert led.extra["rollouts_scored"] + sum((led.extra.get("rollouts_excluded") or {}).values()) == 9
    assert sum(led.extra["groups"].values()) == 3
    for d in out:
        assert d.annotations["difficulty"] in ("all_high", "all_low", "mixed", "flat_middle")
        assert d.annotations["rollouts"] == 3 and 0.0 <= d.annotations["pass_rate"] <= 1.0
    final = DifficultyFilter.finalize_extra(led.extra)["pass_at_k"]
    assert set(final["all"]) == {"pass@1", "pass@2"}  # pass@k only up to the rollouts made
