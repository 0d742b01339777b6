"""The code sample again, as rows of a tabular code dataset in The Stack's shape (for the `stack_rows` reader).

The Stack (v1 and v2) ships code as Parquet rows, one per file, with the text in `content` and the
repository, path, licenses, stars and language in columns. The rows here are the real files of the
code sample (`samples/code.py`), read by the code lane's own reader (every snapshot shape, licenses
detected from the repositories' license files): half the repositories as The Stack v2's columns in
Parquet, the other half as The Stack v1's columns in JSONL, so the reader meets both schemas. The
JSONL file also holds the bad rows a dump has: a line that is not JSON and a row without `content`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

V2_FILE = "the-stack-v2-sample.parquet"
V1_FILE = "the-stack-v1-sample.jsonl"


def _stars(repo: str) -> int:
    """A fixed made-up star count per repository (the sample has no GitHub metadata; near dedup reads stars)."""
    return int(hashlib.sha1(repo.encode()).hexdigest()[:4], 16) % 500


def write_stack_sample(code_dir: str) -> dict[str, int]:
    """Write `code_dir/stack/` from `code_dir/repos/` (written by write_code_sample); returns rows per file."""
    from corpusforge.stages.code.language import CodeLanguage
    from corpusforge.stages.code.licenses import decide, spdx_ids
    from corpusforge.stages.code.repo_reader import RepoReader

    repos = Path(code_dir) / "repos"
    out = Path(code_dir) / "stack"
    out.mkdir(parents=True, exist_ok=True)
    paths = sorted(str(p) for p in repos.iterdir())
    reader = RepoReader(paths=paths)
    reader.setup()
    language = CodeLanguage()
    language._ensure_ready()
    docs = list(language.run(d for p in paths for d in reader.read_counted(p)))
    names = sorted({d.meta["repo"] for d in docs})
    v2_repos = set(names[::2])
    v2_rows, v1_lines = [], []
    for d in docs:
        m = d.meta
        licenses = spdx_ids(m.get("license"))
        blob = hashlib.sha1(d.text.encode("utf-8", "surrogatepass")).hexdigest()
        if m["repo"] in v2_repos:
            v2_rows.append(
                {
                    "blob_id": blob,
                    "repo_name": f"corpusforge-sample/{m['repo']}",
                    "path": m["path"],
                    "content": d.text,
                    "language": m.get("language"),
                    "detected_licenses": licenses,
                    "license_type": decide(licenses)[0].replace("non_permissive", "non-permissive"),
                    "star_events_count": _stars(m["repo"]),
                    "revision_id": m.get("commit"),
                    "length_bytes": m.get("size"),
                }
            )
        else:
            row = {
                "hexsha": blob,
                "max_stars_repo_path": m["path"],
                "max_stars_repo_name": f"corpusforge-sample/{m['repo']}",
                "max_stars_repo_licenses": licenses,
                "max_stars_count": _stars(m["repo"]),
                "lang": m.get("language"),
                "content": d.text,
            }
            v1_lines.append(json.dumps(row, ensure_ascii=False))
    # The bad rows of a real dump: a truncated line and a row whose content is missing.
    v1_lines.insert(len(v1_lines) // 2, '{"hexsha": "0000", "content": "def cut(')
    v1_lines.append(json.dumps({"hexsha": "ffff", "max_stars_repo_path": "empty.py", "content": None}))
    pq.write_table(pa.Table.from_pylist(v2_rows), out / V2_FILE)
    (out / V1_FILE).write_text("\n".join(v1_lines) + "\n", encoding="utf-8")
    return {V2_FILE: len(v2_rows), V1_FILE: len(v1_lines)}
