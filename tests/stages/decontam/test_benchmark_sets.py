"""Benchmark loaders: each native format, written small by the test, read into (key, text) items."""

import gzip
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from corpusforge.stages.decontam.benchmark_sets import BenchmarkSpec, field_values, load_benchmark

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "benchmarks"


def _jsonl(path: Path, records: list[dict], gz: bool = False) -> str:
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


def _load(**spec) -> dict[str, str]:
    return dict(load_benchmark(BenchmarkSpec(**spec)))


def test_gsm8k_strips_calculator_annotations(tmp_path):
    path = _jsonl(
        tmp_path / "test.jsonl",
        [
            {"question": "Tom has 3 apples.", "answer": "He eats 1 so 3-1=<<3-1=2>>2 are left.\n#### 2"},
            {"question": "Second?", "answer": "#### 5"},
        ],
    )
    items = _load(name="gsm8k", path=path)
    assert list(items) == ["gsm8k/test:0", "gsm8k/test:1"]
    assert items["gsm8k/test:0"] == "Tom has 3 apples.\nHe eats 1 so 3-1=2 are left.\n#### 2"


def test_gsm8k_real_file():
    items = _load(name="gsm8k", path=str(DATA / "gsm8k" / "test.jsonl"))
    assert len(items) == 1319
    assert items["gsm8k/test:0"].startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert "<<" not in items["gsm8k/test:0"]


def test_humaneval_real_gzipped_file():
    items = _load(name="humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"))
    assert len(items) == 164
    text = items["humaneval/HumanEval/0"]
    assert "def has_close_elements" in text and "distance = abs(elem - elem2)" in text
    assert "def check(candidate)" not in text  # tests are generic asserts, not the item


def test_humaneval_gz_written(tmp_path):
    path = _jsonl(
        tmp_path / "he.jsonl.gz",
        [
            {
                "task_id": "HumanEval/7",
                "prompt": "def f():\n",
                "canonical_solution": "    return 1\n",
                "test": "assert f() == 1",
                "entry_point": "f",
            }
        ],
        gz=True,
    )
    assert _load(name="humaneval", path=path) == {"humaneval/HumanEval/7": "def f():\n\n    return 1\n"}


def test_math_directory_of_json_files_and_hf_jsonl(tmp_path):
    root = tmp_path / "MATH"
    for split, topic, n in [("test", "algebra", 1), ("test", "geometry", 2)]:
        (root / split / topic).mkdir(parents=True)
        (root / split / topic / f"{n}.json").write_text(
            json.dumps(
                {"problem": f"Solve $x+{n}=0$.", "solution": f"$x=\\boxed{{-{n}}}$", "level": "Level 1", "type": topic}
            )
        )
    items = _load(name="math", path=str(root))
    assert items == {
        "math/test/algebra/1": "Solve $x+1=0$.\n$x=\\boxed{-1}$",
        "math/test/geometry/2": "Solve $x+2=0$.\n$x=\\boxed{-2}$",
    }
    hf = _jsonl(
        tmp_path / "math500.jsonl",
        [
            {
                "problem": "P",
                "solution": "S",
                "answer": "1",
                "subject": "Algebra",
                "level": 1,
                "unique_id": "test/algebra/9.json",
            }
        ],
    )
    assert _load(name="math", path=hf) == {"math/test/algebra/9.json": "P\nS"}


def test_mbpp(tmp_path):
    path = _jsonl(
        tmp_path / "mbpp.jsonl",
        [
            {
                "text": "Write a function to add.",
                "code": "def add(a, b):\r\n  return a + b",
                "task_id": 11,
                "test_list": ["assert add(1, 2) == 3"],
            }
        ],
    )
    assert _load(name="mbpp", path=path) == {"mbpp/11": "Write a function to add.\ndef add(a, b):\r\n  return a + b"}


def test_mmlu_csv_per_subject_without_header(tmp_path):
    root = tmp_path / "test"
    root.mkdir()
    (root / "astronomy_test.csv").write_text('"What is the Sun, mostly?",Hydrogen,Iron,Helium,Carbon,A\nQ2,a,b,c,d,B\n')
    (root / "virology_test.csv").write_text("Which virus?,flu,cold,hiv,none,C\n")
    items = _load(name="mmlu", path=str(root))
    assert list(items) == ["mmlu/astronomy_test:0", "mmlu/astronomy_test:1", "mmlu/virology_test:0"]
    assert items["mmlu/astronomy_test:0"] == "What is the Sun, mostly?\nHydrogen\nIron\nHelium\nCarbon"


def test_arc_nested_fields(tmp_path):
    path = _jsonl(
        tmp_path / "ARC-Challenge-Test.jsonl",
        [
            {
                "id": "Mercury_7175875",
                "answerKey": "C",
                "question": {
                    "stem": "An astronomer observes a planet.",
                    "choices": [{"text": "rotates", "label": "A"}, {"text": "orbits", "label": "B"}],
                },
            }
        ],
    )
    assert _load(name="arc", path=path) == {"arc/Mercury_7175875": "An astronomer observes a planet.\nrotates\norbits"}


def test_hellaswag_context_runs_into_gold_ending(tmp_path):
    path = _jsonl(
        tmp_path / "hellaswag_val.jsonl",
        [
            {
                "ind": 24,
                "ctx": "A man is sitting on a roof. he",
                "label": 1,
                "endings": [
                    "is using wrap.",
                    "starts pulling up roofing.",
                    "is ripping level tiles.",
                    "holds a rubik's cube.",
                ],
            }
        ],
    )
    text = _load(name="hellaswag", path=path)["hellaswag/24"]
    assert text.splitlines()[0] == "A man is sitting on a roof. he starts pulling up roofing."
    assert "holds a rubik's cube." in text


def test_ifeval(tmp_path):
    path = _jsonl(
        tmp_path / "input_data.jsonl",
        [{"key": 1000, "prompt": "Write a 300+ word summary.", "instruction_id_list": ["length"], "kwargs": [{}]}],
    )
    assert _load(name="ifeval", path=path) == {"ifeval/1000": "Write a 300+ word summary."}


def test_generic_jsonl_with_chosen_fields_and_id(tmp_path):
    path = _jsonl(
        tmp_path / "custom.jsonl",
        [{"uid": "a", "q": "question one", "meta": {"ctx": "context"}, "x": "ignored"}, {"q": "question two"}],
    )
    items = _load(name="mine", format="jsonl", path=path, fields=["meta.ctx", "q"], id_field="uid")
    assert items == {"mine/a": "context\nquestion one", "mine/custom:1": "question two"}


def test_fields_override_a_known_format(tmp_path):
    path = _jsonl(tmp_path / "test.jsonl", [{"question": "only this", "answer": "not this"}])
    assert _load(name="gsm8k", path=path, fields=["question"]) == {"gsm8k/test:0": "only this"}


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValidationError, match="unknown format"):
        BenchmarkSpec(name="nope", path="x")
    with pytest.raises(ValidationError, match="needs `fields`"):
        BenchmarkSpec(name="mine", format="jsonl", path="x")
    with pytest.raises(FileNotFoundError):
        _load(name="mmlu", path=str(tmp_path))


def test_field_values_walks_lists():
    rec = {"a": [{"b": "x"}, {"b": "y"}, {"c": 1}], "n": None, "l": ["p", None, 3]}
    assert field_values(rec, "a.b") == ["x", "y"]
    assert field_values(rec, "n") == [] and field_values(rec, "l") == ["p", "3"]
