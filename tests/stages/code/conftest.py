"""A small real repository (six's source and license, mdurl's package) in every snapshot shape the reader takes."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import pytest

from corpusforge.samples.code import SITE_PACKAGES, _git_bare, _license_files, _tar, _zip


def _real_repo(root: Path) -> Path:
    """six.py and its MIT license at the root; mdurl's package (MIT) under lib/ with its own license."""
    root.mkdir(parents=True)
    shutil.copyfile(SITE_PACKAGES / "six.py", root / "six.py")
    shutil.copyfile(_license_files(metadata.distribution("six"))[0], root / "LICENSE")
    lib = root / "lib"
    shutil.copytree(SITE_PACKAGES / "mdurl", lib / "mdurl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(_license_files(metadata.distribution("mdurl"))[0], lib / "LICENSE")
    return root


@pytest.fixture(scope="session")
def real_repo(tmp_path_factory) -> Path:
    return _real_repo(tmp_path_factory.mktemp("repo") / "demo")


@pytest.fixture(scope="session")
def repo_shapes(tmp_path_factory, real_repo) -> dict[str, Path]:
    """The same repository as a folder, a .tar.gz, a .zip and a bare git repository."""
    out = tmp_path_factory.mktemp("shapes")
    shapes = {"folder": real_repo}
    _tar(real_repo, out / "demo.tar.gz")
    shapes["tar"] = out / "demo.tar.gz"
    _zip(real_repo, out / "demo.zip")
    shapes["zip"] = out / "demo.zip"
    if _git_bare(real_repo, out / "demo.git"):
        shapes["git"] = out / "demo.git"
    return shapes
