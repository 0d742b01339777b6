"""Repository packing (StarCoder2 markers, metadata share, FIM) and The Stack-shaped row reader."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.document import Document
from corpusforge.samples.code import SITE_PACKAGES
from corpusforge.stages.code.packing import RepoPack
from corpusforge.stages.code.stack_reader import StackRowsReader


def _files(repo: str, n: int) -> list[Document]:
    return [
        Document(
            f"{repo}-{i}",
            f"def f{i}():\n    return {i}\n",
            "code",
            {"repo": repo, "path": f"pkg/m{i}.py", "language": "Python", "license": "MIT"},
        )
        for i in range(n)
    ]


def test_files_of_a_repository_become_one_document():
    stage = RepoPack(metadata_rate=1.0, fim_rate=0.0)
    out = list(stage.run(_files("acme", 3) + _files("other", 2)))
    assert [d.meta["repo"] for d in out] == ["acme", "other"]
    acme = out[0]
    assert acme.source == "code-repo" and acme.meta["license"] == "MIT"
    assert acme.text.startswith("<repo_name>acme<file_sep>pkg/m")
    assert acme.text.count("<file_sep>") == 3 and all(f"def f{i}()" in acme.text for i in range(3))
    assert stage.ledger.dropped["packed"] == 3 and stage.ledger.balanced  # 5 files in, 2 out, 3 folded in


def test_without_metadata_and_with_fim():
    stage = RepoPack(metadata_rate=0.0, fim_rate=1.0, fim_file_rate=1.0)
    (doc,) = list(stage.run(_files("acme", 4)))
    assert not doc.text.startswith("<repo_name>") and "pkg/m" not in doc.text
    assert doc.text.count("<fim_prefix>") == 4 and doc.text.count("<fim_middle>") == 4
    again = list(RepoPack(metadata_rate=0.0, fim_rate=1.0, fim_file_rate=1.0).run(_files("acme", 4)))[0]
    assert again.text == doc.text  # seeded by repository name: same bytes on every engine and rerun


def test_stack_rows_from_parquet_and_jsonl(tmp_path):
    six = (SITE_PACKAGES / "six.py").read_text()
    rows = [
        {
            "blob_id": "b1",
            "content": six,
            "path": "six.py",
            "repo_name": "benjaminp/six",
            "detected_licenses": ["MIT"],
            "star_events_count": 900,
            "language": "Python",
            "revision_id": "abc",
        },
        {
            "blob_id": "b2",
            "content": None,
            "path": "x.py",
            "repo_name": "r",
            "detected_licenses": [],
            "star_events_count": 0,
            "language": "Python",
            "revision_id": "abc",
        },
        {
            "blob_id": "b3",
            "content": "   ",
            "path": "y.py",
            "repo_name": "r",
            "detected_licenses": [],
            "star_events_count": 0,
            "language": "Python",
            "revision_id": "abc",
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "v2.parquet")
    (tmp_path / "v1.jsonl").write_text(
        '{"hexsha": "h1", "content": "print(1)\\n", "max_stars_repo_path": "a.py", "max_stars_repo_name": "o/r",'
        ' "max_stars_repo_licenses": ["Apache-2.0"], "max_stars_count": 3, "lang": "Python"}\nnot json\n'
    )
    reader = StackRowsReader(paths=[])
    docs = [d for name in ("v2.parquet", "v1.jsonl") for d in reader.read_counted(str(tmp_path / name))]
    assert [d.meta["path"] for d in docs] == ["six.py", "a.py"]
    assert docs[0].meta["license"] == "MIT" and docs[0].meta["repo_stars"] == 900 and docs[0].meta["commit"] == "abc"
    assert docs[1].meta["repo"] == "o/r" and docs[1].meta["license"] == "Apache-2.0"
    assert dict(reader.ledger.dropped) == {"missing_text": 1, "empty_file": 1, "invalid_json": 1}
    assert reader.ledger.balanced
