"""Seeds of the SFT and RL generators: versioned YAML/JSONL seed files, and any run's documents.

A seed file names, per record, the generator `method` it feeds (topic_tree, self_instruct, magpie, rl_math, ...)
and that generator's settings (topic lists, seed tasks, templates). Each record becomes one document with
`source: seed/<method>` and the record as canonical JSON in `text`. Parquet files are read as they are, so any
run's output (e.g. runs/web-scored) is a seed source for the document-grounded generators (closed QA).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from typing import Any, Literal

import yaml

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import Reader, StageConfig


class SeedReader(Reader):
    """Seed records from `.yaml`/`.yml` (a `seeds:` list) or `.jsonl` files; documents from `.parquet` files."""

    type = "seeds"
    config: Config

    class Config(StageConfig):
        type: Literal["seeds"] = "seeds"
        paths: list[str]

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}

    def read(self, path: str) -> Iterator[Document]:
        if path.endswith(".parquet"):
            for doc in storage.read_documents(path):
                self.seen(len(doc.text.encode("utf-8", "surrogatepass")))
                yield doc
            return
        try:
            raw = storage.read_text(path)
        except (OSError, ValueError) as e:
            self.seen()
            self.drop_record(f"unreadable_file:{type(e).__name__}")
            return
        if path.endswith((".yaml", ".yml")):
            try:
                data = yaml.safe_load(raw) or {}
            except yaml.YAMLError:
                self.seen(len(raw))
                self.drop_record("invalid_yaml", len(raw))
                return
            records = data.get("seeds") if isinstance(data, dict) else None
            if not isinstance(records, list):
                self.seen(len(raw))
                self.drop_record("no_seeds_list", len(raw))
                return
            version = str(data.get("version", "1"))
        else:
            records, version = [], "1"
            for line in raw.splitlines():
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        self.seen(len(line))
                        self.drop_record("invalid_json", len(line))
        name = posixpath.basename(path)
        for i, record in enumerate(records):
            seed = self._seed(record, f"{name}@v{version}:{i}")
            if seed is not None:
                yield seed

    def _seed(self, record: Any, locator: str) -> Document | None:
        text = json.dumps(record, sort_keys=True, ensure_ascii=False)
        self.seen(len(text))
        if not isinstance(record, dict) or not isinstance(record.get("method"), str):
            self.drop_record("seed_without_method", len(text))
            return None
        meta = {"method": record["method"], "task": locator}
        if isinstance(record.get("category"), str):
            meta["category"] = record["category"]
        return Document(make_id("seed", locator + text), text, f"seed/{record['method']}", meta)
