"""The code sample: real packages of this venv as repositories in every shape, mixed licenses, planted items."""

import json
from pathlib import Path

from corpusforge.samples.code import write_code_sample


def test_code_sample_shapes_licenses_and_size(tmp_path):
    planted = write_code_sample(str(tmp_path))
    repos = tmp_path / "repos"
    names = {p.name for p in repos.iterdir()}
    assert {"six", "markupsafe.tar.gz", "cycler.zip", "annotated-types.git", "acme-webapp", "cycler-fork"} <= names
    assert {"truncated.tar.gz", "corrupt.zip"} <= names
    license_names = {p.name for p in repos.rglob("*") if p.is_file() and p.name.upper().startswith(("LICEN", "COPY"))}
    assert {"LICENSE.APACHE2", "LICENSE.GPL-3", "LICENSE_LGPL_2.1.txt"} <= license_names
    assert not any((repos / "faust-cchardet").glob("LICEN*"))  # the unlicensed repository
    assert (repos / "acme-webapp" / "static" / "loop").is_symlink()
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink())
    assert size < 5_000_000
    assert json.loads((tmp_path / "planted.json").read_text()) == planted
    assert set(planted["secrets"]) == {
        "aws_access_key",
        "github_token",
        "private_key",
        "jwt",
        "slack_webhook",
        "email",
        "public_ip",
    }
    assert Path(tmp_path / "eval" / "humaneval.jsonl").read_text().strip()
    again = write_code_sample(str(tmp_path))  # the same seed writes the same planted values
    assert again["secrets"] == planted["secrets"]
