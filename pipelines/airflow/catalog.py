"""The named pipelines Airflow builds, their output assets, and schedules derived from what each one reads.

A consumer (a pipeline's `input.paths`, a blend's source paths, a study's blend or manifests) that reads under the
output prefix of a named pipeline's YAML is scheduled on that pipeline's asset: `score.yaml` reads `runs/web/...`,
so its DAG runs when the web lane publishes; the demo blend reads `runs/web-scored`, so the mixture export runs
when scoring publishes. Pipelines whose YAML is not there (a lane still being written) simply have no DAG.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml
from airflow.sdk import Asset

# The corpus lanes, then the passes over their outputs (scoring, repository packing).
CORPUS_LANES = ("web", "code", "math")
CORPUS_PIPELINES = (*CORPUS_LANES, "code_stack", "score", "code_repo", "math-score")
# LLM generation, and the LLM cleanup of math and code pages: gated on the LLM endpoint's health check.
SYNTHETIC_PIPELINES = ("rephrase", "sft", "rl")
CLEANUP_PIPELINES = ("math-cleanup", "code_pages")
LLM_PIPELINES = (*SYNTHETIC_PIPELINES, *CLEANUP_PIPELINES)
ASSET_GROUP = "corpusforge"
PACKAGE_PREFIX = "corpusforge:"


def packaged(path: str | Path) -> str:
    """A path as given when it exists, else the file the corpusforge package ships under that relative path.

    `corpusforge:pipelines/configs/web.yaml` always names the packaged file, so a DAG works from any worker cwd.
    """
    text = str(path)
    if text.startswith(PACKAGE_PREFIX):
        return str(_package_file(text[len(PACKAGE_PREFIX) :]))
    if Path(text).exists() or "://" in text:
        return text
    candidate = _package_file(text)
    return str(candidate) if candidate.is_file() else text


def _package_file(rel: str) -> Path:
    top, _, rest = rel.strip("/").partition("/")
    try:
        return Path(str(resources.files(f"corpusforge.{top}").joinpath(rest)))
    except ModuleNotFoundError:  # not a folder of the package: the path stays as given
        return Path(rel)


def pipeline_yaml(name: str) -> str | None:
    """The packaged `pipelines/configs/<name>.yaml`, or None while it does not exist."""
    path = _package_file(f"pipelines/configs/{name}.yaml")
    return str(path) if path.is_file() else None


def present(names: Iterable[str]) -> list[str]:
    """The names among `names` whose YAML exists."""
    return [n for n in names if pipeline_yaml(n)]


def pipeline_asset(name: str) -> Asset:
    """The output of the named pipeline's DAG; each event's extra says where that run wrote it."""
    return Asset(name=f"corpusforge/{name}", uri=f"x-corpusforge://pipelines/{name}", group=ASSET_GROUP)


def mixture_asset(name: str) -> Asset:
    """The token shards of the named blend's export."""
    return Asset(name=f"corpusforge/mix/{name}", uri=f"x-corpusforge://mixtures/{name}", group=ASSET_GROUP)


def study_asset(name: str) -> Asset:
    """The recommended mixture (and report) of the named ablation study."""
    return Asset(name=f"corpusforge/study/{name}", uri=f"x-corpusforge://studies/{name}", group=ASSET_GROUP)


def _norm(path: str) -> str:
    return path.removeprefix("./").rstrip("/")


def _reads_under(path: str, output: str) -> bool:
    path, output = _norm(path), _norm(output)
    return path == output or path.startswith(output + "/")


def producers() -> dict[str, str]:
    """Pipeline name -> the output prefix its YAML writes, for every named pipeline present."""
    out = {}
    for name in present(CORPUS_PIPELINES + LLM_PIPELINES):
        data = yaml.safe_load(Path(pipeline_yaml(name) or "").read_text()) or {}
        if isinstance(data.get("output"), str):
            out[name] = data["output"]
    return out


def upstream_assets(paths: Iterable[str], exclude: str | None = None) -> list[Asset]:
    """The assets of the named pipelines whose outputs `paths` read."""
    paths = list(paths)
    return [
        pipeline_asset(name)
        for name, output in producers().items()
        if name != exclude and any(_reads_under(p, output) for p in paths)
    ]


def asset_schedule(assets: list[Asset]):
    """Run when any of `assets` gets a new event (a refreshed lane triggers its consumers); None: manual only."""
    from airflow.sdk import AssetAny

    if not assets:
        return None
    return assets if len(assets) == 1 else AssetAny(*assets)
