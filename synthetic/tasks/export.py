"""SFT and RL datasets in the formats trainers read, written atomically under the run output.

- SFT (`sft_export`): OpenAI-style `messages` rows as JSONL and Parquet (TRL's SFTTrainer, NeMo-RL and
  Megatron-Bridge chat datasets read the `messages` column), with how each row was made beside it.
- RL (`rl_export`): verl rows (`data_source`, `prompt` as messages, `ability`, `reward_model` {style: rule,
  ground_truth}, `extra_info`) as Parquet and JSONL, and NeMo Gym rows per resources server
  (`responses_create_params.input` plus `expected_answer` for math_with_judge, `verifier_metadata.unit_tests` for
  code_gen, `instruction_id_list`/`kwargs`/`prompt` for instruction_following) as JSONL, which NeMo-RL's Gym
  environments read.

Both are global steps: each task writes its rows under the step's work folder (prepare), one step on the driver
joins them in task order into the final files (resolve), and documents that are not complete items are dropped by
name as they pass (apply). `ground_truth` is a string for every kind (the answer, or the tests / instructions as
JSON), so one Parquet schema holds math, code and instruction-following rows.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.stages.base import GlobalStep, StageConfig

ABILITY = {"math": "math", "code": "code", "ifeval": "instruction_following"}


def _steps(doc: Document) -> list[dict]:
    return json.loads(doc.meta["generation"]) if doc.meta.get("generation") else []


def sft_row(doc: Document) -> dict[str, Any] | None:
    """The SFT row of a prompt with its answer; None for anything else."""
    messages = doc.meta.get("messages") or []
    if doc.meta.get("reward_spec") or len(messages) < 2 or messages[-1]["role"] != "assistant":
        return None
    steps = _steps(doc)
    scores = {
        k.removeprefix("judge_"): float(v)
        for k, v in (doc.annotations.get("scores") or {}).items()
        if k.startswith("judge_")
    }
    return {
        "id": doc.id,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "method": doc.meta.get("method"),
        "category": doc.meta.get("category"),
        "teacher": next((s["model"] for s in reversed(steps) if s["step"].endswith(".response")), None),
        "turns": sum(m["role"] == "user" for m in messages),
        "parent_ids": list(doc.meta.get("parent_ids") or []),
        "source_id": doc.meta.get("source_id"),
        "judge_scores": scores or None,
        "generation": doc.meta.get("generation", "[]"),
    }


def rl_row(doc: Document) -> dict[str, Any] | None:
    """The verl row of an RL prompt; None for anything else."""
    if not doc.meta.get("reward_spec") or not doc.meta.get("messages"):
        return None
    spec = json.loads(doc.meta["reward_spec"])
    kind = spec["kind"]
    if kind == "math":
        truth = spec["answer"]
    elif kind == "code":
        truth = json.dumps({k: spec.get(k) for k in ("inputs", "outputs", "fn_name")}, ensure_ascii=False)
    else:
        truth = json.dumps({k: spec.get(k) for k in ("instruction_id_list", "kwargs")}, ensure_ascii=False)
    ann = doc.annotations
    return {
        "data_source": f"corpusforge/{doc.meta.get('method', kind)}",
        "prompt": [{"role": m["role"], "content": m["content"]} for m in doc.meta["messages"]],
        "ability": ABILITY.get(kind, kind),
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {
            "split": "train",
            "index": 0,
            "id": doc.id,
            "method": doc.meta.get("method"),
            "category": doc.meta.get("category"),
            "reward_spec": doc.meta["reward_spec"],
            "pass_rate": ann.get("pass_rate"),
            "rollouts": ann.get("rollouts"),
            "difficulty": ann.get("difficulty"),
            "generation": doc.meta.get("generation", "[]"),
        },
    }


def nemo_gym_row(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(resources server, NeMo Gym row) for a verl row."""
    spec = json.loads(row["extra_info"]["reward_spec"])
    base = {"id": row["extra_info"]["id"], "responses_create_params": {"input": row["prompt"]}}
    question = "\n\n".join(m["content"] for m in row["prompt"] if m["role"] == "user")
    if spec["kind"] == "math":
        return "math_with_judge", {**base, "question": question, "expected_answer": spec["answer"]}
    if spec["kind"] == "code":
        tests = {k: spec.get(k) for k in ("inputs", "outputs", "fn_name")}
        return "code_gen", {**base, "verifier_metadata": {"unit_tests": tests}}
    return "instruction_following", {
        **base,
        "instruction_id_list": spec["instruction_id_list"],
        "kwargs": spec["kwargs"],
        "prompt": spec.get("prompt") or question,
    }


def _jsonl(rows: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _write_parquet(path: str, rows: list[dict]) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, compression="zstd")
    with storage.atomic_write(path, "wb") as f:
        f.write(buf.getvalue())


def _write_bytes(path: str, data: bytes) -> None:
    with storage.atomic_write(path, "wb") as f:
        f.write(data)


class _Export(GlobalStep):
    """Rows per task (prepare), the final files (resolve), non-items dropped by name (apply)."""

    kind = ""
    not_item = ""

    class Config(StageConfig):
        out_dir: str | None = None  # default: <run output>/<sft|rl>
        examples: int = 3  # per method, in the report

    config: Config

    def row(self, doc: Document) -> dict[str, Any] | None:
        raise TypeError(f"{type(self).__name__} must define row")

    def before_run(self, run_dir: str) -> None:
        if self.config.out_dir is None:
            self.config.out_dir = storage.join(run_dir, self.kind)

    def _out_dir(self) -> str:
        if self.config.out_dir is None:
            raise ValueError(f"{self.name}: out_dir is set by the runner (before_run); give it when run alone")
        return self.config.out_dir

    def prepare(self, docs: Iterable[Document]) -> Iterator[Document]:
        rows = []
        for doc in docs:
            row = self.row(doc)
            if row is not None:
                rows.append(row)
            yield doc
        _write_bytes(storage.join(self.workdir, "rows", f"{self.task_id}.jsonl"), _jsonl(rows))

    def apply(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if self.row(doc) is None:
                self.drop(doc, self.not_item)
            else:
                yield doc

    def _rows(self, task_ids: list[str]) -> list[dict]:
        rows = []
        for tid in sorted(task_ids):
            path = storage.join(self.workdir, "rows", f"{tid}.jsonl")
            if storage.exists(path):
                rows += [json.loads(line) for line in storage.read_text(path).splitlines() if line.strip()]
        return rows

    def _summary(self, rows: list[dict], method: Any, text: Any) -> dict[str, Any]:
        by_method = Counter(method(r) for r in rows)
        examples: dict[str, str] = {}
        shown: Counter = Counter()
        for r in rows:
            if shown[method(r)] < self.config.examples:
                shown[method(r)] += 1
                examples[f"{method(r)} {shown[method(r)]}"] = text(r)[:240]
        return {"rows": len(rows), "rows_by_method": dict(by_method), "examples": examples}


class SFTExport(_Export):
    """SFT rows: `<out>/sft/sft.jsonl` and `sft.parquet` (OpenAI `messages`)."""

    type = "sft_export"
    config: Config
    kind = "sft"
    not_item = "not_an_sft_item"

    class Config(_Export.Config):
        type: Literal["sft_export"] = "sft_export"

    config: Config

    def row(self, doc: Document) -> dict[str, Any] | None:
        return sft_row(doc)

    def resolve(self, engine, task_ids: list[str]) -> dict[str, Any]:
        rows = self._rows(task_ids)
        out = self._out_dir()
        _write_bytes(storage.join(out, "sft.jsonl"), _jsonl(rows))
        _write_parquet(storage.join(out, "sft.parquet"), rows)
        summary = self._summary(
            rows, lambda r: r["method"], lambda r: " || ".join(f"{m['role']}: {m['content']}" for m in r["messages"])
        )
        summary["rows_by_category"] = dict(Counter(r["category"] for r in rows))
        summary["multi_turn_rows"] = sum(r["turns"] > 1 for r in rows)
        summary["files"] = {"jsonl": storage.join(out, "sft.jsonl"), "parquet": storage.join(out, "sft.parquet")}
        return summary


class RLExport(_Export):
    """RL rows: `<out>/rl/rl.parquet` and `rl.jsonl` (verl), `<out>/rl/nemo_gym/<server>.jsonl` (NeMo Gym / NeMo-RL)."""

    type = "rl_export"
    config: Config
    kind = "rl"
    not_item = "not_an_rl_item"

    class Config(_Export.Config):
        type: Literal["rl_export"] = "rl_export"

    config: Config

    def row(self, doc: Document) -> dict[str, Any] | None:
        return rl_row(doc)

    def resolve(self, engine, task_ids: list[str]) -> dict[str, Any]:
        rows = self._rows(task_ids)
        for i, r in enumerate(rows):
            r["extra_info"]["index"] = i
        out = self._out_dir()
        _write_bytes(storage.join(out, "rl.jsonl"), _jsonl(rows))
        _write_parquet(storage.join(out, "rl.parquet"), rows)
        gym: dict[str, list[dict]] = {}
        for r in rows:
            server, gym_row = nemo_gym_row(r)
            gym.setdefault(server, []).append(gym_row)
        for server, server_rows in gym.items():
            _write_bytes(storage.join(out, "nemo_gym", f"{server}.jsonl"), _jsonl(server_rows))
        summary = self._summary(
            rows,
            lambda r: r["data_source"],
            lambda r: f"[{r['reward_model']['ground_truth'][:60]}] {r['prompt'][-1]['content']}",
        )
        summary["rows_by_difficulty"] = dict(Counter(str(r["extra_info"]["difficulty"]) for r in rows))
        summary["files"] = {
            "verl_parquet": storage.join(out, "rl.parquet"),
            "verl_jsonl": storage.join(out, "rl.jsonl"),
            **{f"nemo_gym_{s}": storage.join(out, "nemo_gym", f"{s}.jsonl") for s in gym},
        }
        return summary
