"""The repository reader: the same repository in every shape gives the same documents; bad input is counted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from corpusforge.stages.code.repo_reader import RepoReader
from corpusforge.stages.code.snapshot import FolderSnapshot


def _read(path: Path, **settings) -> tuple[list, RepoReader]:
    reader = RepoReader(paths=[str(path)], **settings)
    docs = list(reader.read_counted(str(path)))
    assert reader.ledger.balanced
    return docs, reader


def _files(docs, strip_top: bool) -> dict[str, tuple[str, str | None]]:
    out = {}
    for d in docs:
        path = d.meta["path"].split("/", 1)[1] if strip_top else d.meta["path"]
        out[path] = (d.text, d.meta.get("license"))
    return out


def test_every_snapshot_shape_reads_the_same_files_and_licenses(repo_shapes):
    assert "git" in repo_shapes, "git must be installed for the bare-repository reader"
    folder, _ = _read(repo_shapes["folder"])
    expected = _files(folder, strip_top=False)
    assert expected["six.py"][1] == "MIT"
    # mdurl's files get the root license and their own folder's (both MIT: one id)
    assert expected["lib/mdurl/_parse.py"][1] == "MIT"
    assert expected["lib/LICENSE"][0].startswith("Copyright")
    for shape in ("tar", "zip"):
        docs, reader = _read(repo_shapes[shape])
        assert _files(docs, strip_top=True) == expected, shape
        assert reader.ledger.extra["snapshots"] == {shape: 1}
    docs, _ = _read(repo_shapes["git"])
    assert _files(docs, strip_top=False) == expected
    commit = subprocess.run(
        ["git", f"--git-dir={repo_shapes['git']}", "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert {d.meta["commit"] for d in docs} == {commit}
    assert all(d.meta["repo"] == "demo" and d.meta["repo_files"] == len(expected) for d in docs)


def test_license_of_a_subfolder_applies_below_it_only(tmp_path, real_repo):
    repo = tmp_path / "r"
    shutil.copytree(real_repo, repo)
    (repo / "LICENSE").unlink()
    (repo / "lib" / "LICENSE").write_text(
        "This program is free software: you can redistribute it and/or modify it under the terms of the GNU "
        "General Public License as published by the Free Software Foundation, either version 3 of the License, "
        "or (at your option) any later version.\n"
    )
    docs, _ = _read(repo)
    by_path = {d.meta["path"]: d.meta.get("license") for d in docs}
    assert by_path["six.py"] is None  # no license above it
    assert by_path["lib/mdurl/__init__.py"] == "GPL-3.0-or-later"


def test_bad_input_is_counted_under_a_reason_and_the_run_goes_on(tmp_path, real_repo):
    repo = tmp_path / "bad"
    shutil.copytree(real_repo, repo)
    (repo / "blob.py").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 200)  # binary with a source extension
    (repo / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))  # invalid UTF-8
    (repo / "wide.py").write_bytes("x = 'wide'\n".encode("utf-16"))  # UTF-16 with a BOM: decoded
    (repo / "big.py").write_text("x = 1\n" * 400)  # over the size cap below
    (repo / "empty.py").write_text("")
    (repo / "loop").symlink_to(".", target_is_directory=True)  # a symlink loop
    (repo / "fifo").mkdir()
    os.mkfifo(repo / "fifo" / "pipe.py")  # not a regular file: never opened
    deep = repo / "/".join(f"d{i}" for i in range(5))
    deep.mkdir(parents=True)
    (deep / "deep.py").write_text("x = 1\n")
    docs, reader = _read(repo, max_file_bytes=2000, max_depth=3)
    dropped = reader.ledger.dropped
    assert dropped["binary_file"] == 1
    assert dropped["invalid_utf8"] == 1
    assert dropped["too_large"] >= 2  # big.py and six.py (30 kB) are over 2000 bytes
    assert dropped["empty_file"] == 1
    assert dropped["symlink"] == 1
    assert dropped["not_regular_file"] == 1
    assert dropped["too_deep"] == 1
    texts = {d.meta["path"]: d.text for d in docs}
    assert texts["wide.py"] == "x = 'wide'\n"
    assert reader.ledger.extra["encodings"]["utf-16"] == 1


def test_a_file_that_vanishes_after_listing_is_unreadable(tmp_path, real_repo):
    repo = tmp_path / "gone"
    shutil.copytree(real_repo, repo)
    snap = FolderSnapshot(str(repo), 64)
    entries = list(snap.entries())
    (repo / "six.py").unlink()
    results = {}
    for e in entries:
        try:
            results[e.path] = snap.read(e)
        except OSError:
            results[e.path] = None
    assert results["six.py"] is None and results["LICENSE"]


def test_corrupt_archives_and_git_objects_are_counted(tmp_path, repo_shapes):
    data = repo_shapes["tar"].read_bytes()
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    docs, reader = _read(truncated)
    assert reader.ledger.dropped["corrupt_archive"] == 1
    assert 0 < len(docs) < 12  # what came before the damage is kept

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04" + os.urandom(300))
    docs, reader = _read(junk)
    assert docs == [] and reader.ledger.dropped["corrupt_archive"] == 1

    git = tmp_path / "broken.git"
    shutil.copytree(repo_shapes["git"], git)
    blob = subprocess.run(
        ["git", f"--git-dir={git}", "rev-parse", "HEAD:six.py"], capture_output=True, text=True
    ).stdout.strip()
    obj = git / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not a zlib stream")
    docs, reader = _read(git)
    assert reader.ledger.dropped["corrupt_git_object"] == 1
    assert "six.py" not in {d.meta["path"] for d in docs} and len(docs) > 5

    docs, reader = _read(git, ref="no-such-branch")
    assert docs == [] and reader.ledger.dropped["corrupt_git_repo"] == 1


def test_expand_inputs_takes_folders_archives_and_git_repositories(repo_shapes, tmp_path):
    for path in repo_shapes.values():
        link = tmp_path / "inputs" / path.name
        link.parent.mkdir(exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, link)
        else:
            shutil.copyfile(path, link)
    found = RepoReader.expand_inputs([str(tmp_path / "inputs" / "*")])
    assert sorted(Path(p).name for p in found) == sorted(p.name for p in repo_shapes.values())


@pytest.mark.parametrize(
    "name,expected",
    [
        ("LICENSE", True),
        ("LICENSE.txt", True),
        ("COPYING.LESSER", True),
        ("LICENSE-MIT", True),
        ("apache-2.0.LICENSE", True),
        ("MIT.txt", True),
        ("README.md", True),
        ("license.py", False),
        ("mit.py", False),
        ("licenses.json", False),
        ("setup.py", False),
    ],
)
def test_license_file_names(name, expected):
    from corpusforge.stages.code.licenses import is_license_file

    assert is_license_file(f"pkg/{name}") is expected
