"""The difficulty filter against policies whose every rollout is scripted (a real HTTP server answering by prompt
and seed): each NeMo Gym group, excluded rollouts, the band, pass@k per stratum, exact request counts."""

from __future__ import annotations

import json

import pytest

from corpusforge.core.document import Document
from corpusforge.synthetic.tasks.difficulty import DifficultyFilter, pass_at_k

# prompt -> (reward spec, reply for rollout seed s)
POLICY = {
    "always right": ({"kind": "math", "answer": "12"}, lambda s: "3 * 4 = 12. The answer is \\boxed{12}."),
    "always wrong": ({"kind": "math", "answer": "7"}, lambda s: "The answer is \\boxed{8}."),
    "half right": ({"kind": "math", "answer": "5"}, lambda s: f"So it is \\boxed{{{5 if s % 2 == 0 else 6}}}."),
    "half the rules": (
        {
            "kind": "ifeval",
            "kwargs": [{}, {}],
            "grading": "fraction",
            "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
        },
        lambda s: "the sea is cold, grey and wide",
    ),
    "broken spec": (
        {"kind": "ifeval", "instruction_id_list": ["no:such_instruction"], "kwargs": [{}]},
        lambda s: "anything",
    ),
    "one lost": ({"kind": "math", "answer": "3"}, lambda s: 500 if s == 1 else "\\boxed{3}"),
}


def _docs() -> list[Document]:
    return [
        Document(
            f"rl-{i}",
            prompt,
            "synthetic/rl_math",
            {"messages": [{"role": "user", "content": prompt}], "reward_spec": json.dumps(spec)},
        )
        for i, (prompt, (spec, _)) in enumerate(POLICY.items())
    ]


def _policy(body: dict):
    return POLICY[body["messages"][-1]["content"]][1](body["seed"])


def _stage(server, **kw) -> DifficultyFilter:
    backend = {"type": "openai", "base_url": server.url, "model": "policy", "max_retries": 0, "timeout_s": 30}
    return DifficultyFilter(backend=backend, k=4, cache=False, verifier_threads=2, **kw)


def test_groups_exclusions_and_pass_at_k(scripted_server):
    srv = scripted_server(_policy)
    stage = _stage(srv)
    out = list(stage.run(_docs()))
    led = stage.ledger
    assert srv.received == 6 * 4
    assert [d.text for d in out] == ["half right"]
    assert out[0].annotations == {"pass_rate": 0.5, "rollouts": 4, "difficulty": "mixed"}
    assert dict(led.dropped) == {"all_high": 2, "all_low": 1, "flat_middle": 1, "too_few_valid_rollouts": 1}
    assert led.balanced
    # the broken spec's 4 rollouts and the one request the policy never answered are excluded, not zeros
    assert led.extra["rollouts_excluded"] == {"verifier_bad_spec": 4, "policy_request_failed": 1}
    assert led.extra["rollouts_scored"] == 4 * 4 + 3
    assert led.extra["groups_by_kind"] == {
        "math": {"all_high": 2, "all_low": 1, "mixed": 1},
        "ifeval": {"flat_middle": 1},
    }
    final = DifficultyFilter.finalize_extra(led.extra)["pass_at_k"]
    assert final["mixed"] == {"pass@1": 0.5, "pass@2": round(pass_at_k(4, 2, 2), 4), "pass@4": 1.0}
    assert final["all_high"]["pass@1"] == 1.0 and final["all_low"]["pass@4"] == 0.0
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    # the fraction-graded prompt scores 0.5 on every rollout but passes none (pass means reward 1)
    assert final["kind:ifeval"] == {"pass@1": 0.0, "pass@2": 0.0, "pass@4": 0.0}


def test_keep_and_band_are_configurable(scripted_server):
    srv = scripted_server(_policy)
    stage = _stage(srv, keep=["mixed", "all_high", "flat_middle"], band=[0.6, 1.0])
    out = list(stage.run(_docs()))
    assert sorted(d.text for d in out) == ["always right", "one lost"]
    assert dict(stage.ledger.dropped) == {"outside_band": 2, "all_low": 1, "too_few_valid_rollouts": 1}
    with pytest.raises(ValueError, match="band"):
        DifficultyFilter.Config(band=[0.8, 0.2])
