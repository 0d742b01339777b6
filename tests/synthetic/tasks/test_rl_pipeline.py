"""RL prompts through generation, decontamination and export: a GSM8K test question and a HumanEval problem
planted among the seeds never reach the output; code tests come from running the reference in the sandbox; the
verl and NeMo Gym files load with `datasets`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from corpusforge.pipelines.runner import run_pipeline
from corpusforge.pipelines.schema import validate_pipeline

REPO = Path(__file__).resolve().parents[3]
BENCH = REPO / ".." / "shared" / "data" / "benchmarks"

pytestmark = pytest.mark.slow  # a whole pipeline (the code references run in the sandbox)


def _seeds(tmp_path: Path) -> list[str]:
    gsm8k = json.loads((BENCH / "gsm8k" / "test.jsonl").read_text().splitlines()[0])
    with gzip.open(BENCH / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        he = json.loads(f.readline())
    math = {
        "version": 1,
        "seeds": [
            {
                "method": "rl_math",
                "templates": [
                    {
                        "id": "planted",
                        "text": gsm8k["question"].replace("{", "{{").replace("}", "}}"),
                        "answer": "18",
                        "vars": {},
                    },
                    {
                        "id": "clean",
                        "text": "A jar holds {a} red and {b} blue beads. How many beads are in {n} such jars?",
                        "answer": "(a + b) * n",
                        "vars": {"a": "2..9", "b": "2..9", "n": "2..5"},
                    },
                ],
                "per_template": 1,
            }
        ],
    }
    code = {
        "version": 1,
        "seeds": [
            {
                "method": "rl_code",
                "tasks": [
                    {
                        "id": "planted",
                        "prompt": he["prompt"],
                        "solution": he["prompt"] + he["canonical_solution"],
                        "fn_name": he["entry_point"],
                        "inputs": [
                            [[1.0, 2.0, 3.0], 0.5],
                            [[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3],
                            [[1.0, 2.0, 5.9, 4.0, 5.0], 0.95],
                        ],
                    },
                    {
                        "id": "clean",
                        "prompt": "Write a Python function `double_all(xs)` returning each number of xs doubled.",
                        "solution": "def double_all(xs):\n    return [2 * x for x in xs]\n",
                        "fn_name": "double_all",
                        "inputs": [[[1, 2]], [[]], [[-3]]],
                    },
                    {
                        "id": "stdio",
                        "prompt": "Read two integers on one line and print their product.",
                        "solution": "a, b = map(int, input().split())\nprint(a * b)\n",
                        "inputs": ["3 4\n", "-2 5\n", "0 9\n"],
                    },
                    {
                        "id": "broken",
                        "prompt": "Print the first line of standard input reversed, character by character.",
                        "solution": "print(input()[::-1]\n",
                        "inputs": ["abc\n", "x\n", "\n"],
                    },
                ],
            }
        ],
    }
    ifeval = {
        "version": 1,
        "seeds": [{"method": "rl_ifeval", "base_prompts": ["Describe a quiet harbour."], "per_prompt": 2}],
    }
    paths = []
    for name, data in (("math", math), ("code", code), ("ifeval", ifeval)):
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(data))
        paths.append(str(p))
    return paths


def test_planted_benchmark_items_are_removed_and_rl_rows_load(tmp_path):
    cfg = yaml.safe_load((REPO / "pipelines" / "configs" / "rl.yaml").read_text())
    dead = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "teacher"}  # templates need no model
    stages = []
    for stage in cfg["stages"]:
        if stage["type"] == "difficulty_filter":
            continue  # kept out here: tests/synthetic/tasks/test_difficulty.py and the embedded test run it
        if "backend" in stage:
            stage["backend"] = dead
        if stage["type"] == "decontaminate":
            for b in stage["benchmarks"]:
                b["path"] = str(REPO / b["path"])
        stages.append(stage)
    cfg.update(stages=stages, output=str(tmp_path / "rl"), progress=False, engine={"type": "local", "workers": 1})
    cfg["input"]["paths"] = _seeds(tmp_path)
    run_pipeline(validate_pipeline(cfg))
    stats = {s["name"]: s for s in json.loads((tmp_path / "rl" / "stats.json").read_text())["stages"]}
    assert stats["rl_code_prompts"]["dropped"] == {"reference_runtime_error": 1}  # the broken reference
    assert stats["decontaminate"]["dropped"] == {"contaminated": 2}
    found = stats["decontaminate"]["extra"]["benchmarks"]
    assert set(found["gsm8k"]["items"]) == {"test:0"} and set(found["humaneval"]["items"]) == {"HumanEval/0"}

    rows = [json.loads(line) for line in (tmp_path / "rl" / "rl" / "rl.jsonl").read_text().splitlines()]
    assert sorted(r["data_source"] for r in rows) == [
        "corpusforge/rl_code",
        "corpusforge/rl_code",
        "corpusforge/rl_ifeval",
        "corpusforge/rl_ifeval",
        "corpusforge/rl_math",
    ]
    assert [r["extra_info"]["index"] for r in rows] == list(range(5))
    assert not any("has_close_elements" in r["prompt"][0]["content"] for r in rows)
    by_id = {json.loads(r["extra_info"]["reward_spec"]).get("fn_name"): r for r in rows if r["ability"] == "code"}
    assert json.loads(by_id["double_all"]["reward_model"]["ground_truth"])["outputs"] == [[2, 4], [], [-6]]
    assert json.loads(by_id[None]["reward_model"]["ground_truth"])["outputs"] == ["12\n", "-10\n", "0\n"]
    math = next(r for r in rows if r["ability"] == "math")
    assert math["reward_model"]["style"] == "rule" and math["reward_model"]["ground_truth"].isdigit()

    datasets = pytest.importorskip("datasets")
    out = tmp_path / "rl" / "rl"
    for kind, path in (("parquet", out / "rl.parquet"), ("json", out / "rl.jsonl")):
        ds = datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
        assert ds.num_rows == 5 and ds[0]["prompt"][0]["role"] == "user"
        assert set(ds.features) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    gym = {p.stem: [json.loads(x) for x in p.read_text().splitlines()] for p in (out / "nemo_gym").glob("*.jsonl")}
    assert {k: len(v) for k, v in gym.items()} == {"math_with_judge": 1, "code_gen": 2, "instruction_following": 2}
    assert gym["math_with_judge"][0]["expected_answer"] == math["reward_model"]["ground_truth"]
    assert gym["code_gen"][0]["verifier_metadata"]["unit_tests"]["inputs"]
    follow = gym["instruction_following"][0]
    assert follow["instruction_id_list"] and len(follow["kwargs"]) == len(follow["instruction_id_list"])
    assert follow["responses_create_params"]["input"][0]["content"] == follow["prompt"]
