"""Run manifests: what went in, with which config and code, and what came out (with checksums)."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from corpusforge.core import storage


def code_version() -> dict[str, str]:
    """Package version and, when run from a checkout, the git commit."""
    try:
        pkg = version("corpusforge")
    except PackageNotFoundError:
        pkg = "unknown"
    commit = ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"corpusforge": pkg, "git_commit": commit, "python": platform.python_version()}


def describe_outputs(patterns: list[str]) -> list[dict]:
    """Path, size and sha256 of every file matching the patterns."""
    out = []
    for path in storage.expand(patterns):
        size, digest = storage.checksum(path)
        out.append({"path": path, "bytes": size, "sha256": digest})
    return out


def write_manifest(config, inputs: list[str], data_dir: str, started: float) -> str:
    """Write `<output>/manifest.json` for a pipeline run; returns its path."""
    inputs_desc = []
    for path in inputs:
        inputs_desc.append({"path": path, "bytes": storage.size(path)})
    manifest = {
        "pipeline": config.name,
        "config_hash": config.digest(),
        "config": config.model_dump(mode="json"),
        "code": code_version(),
        "engine": config.engine.type,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": inputs_desc,
        "outputs": describe_outputs([storage.join(data_dir, "*.parquet")]),
    }
    path = storage.join(config.output, "manifest.json")
    storage.write_text(path, json.dumps(manifest, indent=2))
    return path
