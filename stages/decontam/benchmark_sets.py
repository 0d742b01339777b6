"""Evaluation sets read from local files in their native formats: the items decontamination looks for.

Each format names the fields whose text forms an item (dotted paths reach nested fields; a list
yields each element) and where the item id comes from. A benchmark entry may override the
fields, so which text enters the index is configuration, not code.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from corpusforge.core import storage


@dataclass(frozen=True)
class BenchmarkFormat:
    """How one evaluation set is stored: default text fields, id field, file kinds, a record fix-up."""

    fields: tuple[str, ...]
    id_field: str | None
    extensions: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
    prepare: Callable[[dict], dict] | None = None


# GSM8K answers carry calculator annotations ("<<16-3-4=9>>9") that copies on the web lose.
_CALCULATOR = re.compile(r"<<[^>]*>>")


def _gsm8k(record: dict) -> dict:
    return {**record, "answer": _CALCULATOR.sub("", str(record.get("answer", "")))}


def _hellaswag(record: dict) -> dict:
    # The context runs on into the gold ending: that sentence is what a leaked copy contains.
    endings = record.get("endings") or []
    label = record.get("label")
    gold = endings[int(label)] if str(label).strip().isdigit() and int(label) < len(endings) else ""
    return {**record, "ctx_gold": f"{record.get('ctx', '')} {gold}".strip()}


FORMATS: dict[str, BenchmarkFormat] = {
    # openai/grade-school-math: {"question", "answer"}, one item per line, no id
    "gsm8k": BenchmarkFormat(("question", "answer"), None, prepare=_gsm8k),
    # hendrycks/math: a JSON file per problem {problem, solution, level, type}, or the HF JSONL export
    "math": BenchmarkFormat(("problem", "solution"), "unique_id"),
    # MATH-500 (PRM800K's MATH test subset): {question, answer}, the answer a worked solution, no id
    "math500": BenchmarkFormat(("question", "answer"), None),
    # openai/human-eval: {task_id, prompt, canonical_solution, test, entry_point}, gzipped JSONL
    "humaneval": BenchmarkFormat(("prompt", "canonical_solution"), "task_id"),
    # google-research/mbpp: {text, code, test_list, task_id}
    "mbpp": BenchmarkFormat(("text", "code"), "task_id"),
    # hendrycks/test: one CSV per subject, no header: question, A, B, C, D, answer
    "mmlu": BenchmarkFormat(("question", "choices"), None, extensions=(".csv",)),
    # allenai/arc: {id, question: {stem, choices: [{text, label}]}, answerKey}
    "arc": BenchmarkFormat(("question.stem", "question.choices.text"), "id"),
    # rowanz/hellaswag: {ctx, endings, label, ind}
    "hellaswag": BenchmarkFormat(("ctx_gold", "endings"), "ind", prepare=_hellaswag),
    # google-research/instruction_following_eval: {key, prompt, instruction_id_list, kwargs}
    "ifeval": BenchmarkFormat(("prompt",), "key"),
    # any JSONL: the entry names its fields (and optionally its id field)
    "jsonl": BenchmarkFormat((), None),
}


class BenchmarkSpec(BaseModel):
    """One evaluation set to index: a name (the report's key), its files, format and fields."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: str  # a file, a directory (searched recursively) or a glob; local or s3://
    format: str | None = None  # defaults to `name` when that is a known format
    fields: list[str] | None = None  # dotted paths; defaults to the format's
    id_field: str | None = None

    @model_validator(mode="after")
    def _known_format(self) -> BenchmarkSpec:
        fmt = self.format or self.name
        if fmt not in FORMATS:
            raise ValueError(
                f"benchmark {self.name!r}: unknown format {fmt!r}; set `format:` to one of {', '.join(sorted(FORMATS))}"
            )
        if fmt == "jsonl" and not self.fields:
            raise ValueError(f"benchmark {self.name!r}: a generic jsonl benchmark needs `fields`")
        return self

    @property
    def kind(self) -> BenchmarkFormat:
        return FORMATS[self.format or self.name]


def field_values(record: Any, path: str) -> list[str]:
    """The strings at a dotted path; lists along the way are mapped over, None is skipped."""
    nodes = [record]
    for part in path.split("."):
        nxt = []
        for node in nodes:
            if isinstance(node, list):
                node = [x.get(part) if isinstance(x, dict) else None for x in node]
                nxt.extend(node)
            elif isinstance(node, dict):
                nxt.append(node.get(part))
        nodes = nxt
    out: list[str] = []
    for node in nodes:
        if isinstance(node, list):
            out.extend(str(x) for x in node if x is not None)
        elif node is not None:
            out.append(str(node))
    return out


def benchmark_files(spec: BenchmarkSpec) -> list[str]:
    """The files of a benchmark, sorted (so item ids and the index are deterministic)."""
    fs, p = storage.filesystem(spec.path)
    if any(c in p for c in "*?["):
        files = storage.expand([spec.path])
    elif fs.isdir(p):
        files = [storage.protocol_path(fs, f) for f in fs.find(p)]
    else:
        files = [spec.path]
    exts = spec.kind.extensions
    files = sorted(f for f in files if f.endswith(exts) or f == spec.path)
    if not files:
        raise FileNotFoundError(f"benchmark {spec.name!r}: no {'/'.join(exts)} files at {spec.path}")
    return files


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    for ext in (".gz", ".jsonl", ".json", ".csv"):
        name = name.removesuffix(ext)
    return name


def _records(path: str, root: str) -> Iterator[tuple[str, dict]]:
    """(fallback id, record) for every record of one file."""
    with storage.open_file(path, "rb", compression="infer") as f:
        raw = f.read().decode("utf-8-sig")
    stem = _stem(path)
    if path.endswith(".csv"):
        # MMLU: no header; question, four choices, answer letter
        for i, row in enumerate(csv.reader(io.StringIO(raw))):
            if len(row) >= 6:
                yield (
                    f"{stem}:{i}",
                    {
                        "question": row[0],
                        "A": row[1],
                        "B": row[2],
                        "C": row[3],
                        "D": row[4],
                        "choices": row[1:5],
                        "answer": row[5],
                    },
                )
        return
    if path.endswith((".json", ".json.gz")):
        data = json.loads(raw)
        # A MATH problem file's id is its path under the benchmark root: test/algebra/1
        rel = posixpath.relpath(path, root).removesuffix(".gz").removesuffix(".json") if root != path else stem
        if isinstance(data, dict):
            yield rel, data
        else:
            for i, rec in enumerate(data):
                yield f"{rel}:{i}", rec
        return
    for i, line in enumerate(raw.splitlines()):
        if line.strip():
            yield f"{stem}:{i}", json.loads(line)


def load_benchmark(spec: BenchmarkSpec) -> Iterator[tuple[str, str]]:
    """("name/item_id", item text) for every item of a benchmark, in a deterministic order."""
    kind = spec.kind
    fields = spec.fields or list(kind.fields)
    id_field = spec.id_field or kind.id_field
    fs, root = storage.filesystem(spec.path)
    root = storage.protocol_path(fs, root) if fs.isdir(root) else spec.path
    seen: set[str] = set()
    for path in benchmark_files(spec):
        for fallback, record in _records(path, root):
            if kind.prepare is not None:
                record = kind.prepare(record)
            item_id = str(record[id_field]) if id_field and record.get(id_field) is not None else fallback
            if item_id in seen:  # two files with the same stem: keep ids unique
                item_id = f"{_stem(path)}/{item_id}"
            seen.add(item_id)
            text = "\n".join(v for f in fields for v in field_values(record, f) if v.strip())
            yield f"{spec.name}/{item_id}", text
