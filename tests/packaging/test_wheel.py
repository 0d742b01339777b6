"""The wheel holds every module and data file of the design's folders under `corpusforge/`, with no hand-kept list.

Built from the checkout, installed into a fresh venv that sees the project's dependencies but not its editable
install, and every module imported from there.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ["core", "stages", "classifiers", "synthetic", "mixtures", "trainer", "pipelines"]
DATA_SUFFIXES = {".yaml", ".txt", ".json"}


def _expected_files() -> set[str]:
    files = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "corpusforge").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", *DATA_SUFFIXES}
    }
    for folder in FOLDERS:
        files |= {
            f"corpusforge/{p.relative_to(REPO).as_posix()}"
            for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", *DATA_SUFFIXES}
        }
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(out.glob("corpusforge-*.whl"))


@pytest.mark.slow
def test_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _expected_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)[:10]}"
    assert not [n for n in names if n.split("/")[0] in FOLDERS + ["tests", "benchmarks"]], "stray top-level package"


@pytest.mark.slow
def test_every_module_imports_from_the_installed_wheel(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    deps = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    # The project's dependencies as a plain path entry: its .pth files (the editable install's finder) do not run.
    (site / "deps.pth").write_text(str(deps) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    modules = sorted(
        n[:-3].replace("/", ".").removesuffix(".__init__")
        for n in zipfile.ZipFile(wheel).namelist()
        if n.endswith(".py") and not n.endswith("__main__.py")
    )
    script = (
        "import importlib, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    f = importlib.import_module(m).__file__\n"
        "    assert f.startswith(sys.prefix), (m, f)\n"
        "print(len(mods))\n"
    )
    # The Airflow DAG factories import Airflow, which writes under AIRFLOW_HOME (~/airflow unless set).
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow_home")}
    res = subprocess.run([str(py), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.split()[-1]) == len(modules) > 80
