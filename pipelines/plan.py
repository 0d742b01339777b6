"""The runner's plan as units an orchestrator schedules one by one (Airflow maps a task over each shard).

`run_pipeline` walks the same plan in one process. Here each step is its own call, so a scheduler can run, retry
and show every unit separately:

    describe(config)        the shape, known from the YAML alone: segments, the global step each one ends with,
                            and the stages that build an index before any task runs (decontamination)
    plan_run(config)        the shards (one per input file), recorded beside the output
    build_index(config, s)  stage s's `before_run` (the decontamination index); returns the config the tasks get
    run_shard(...)          one shard through one segment; a no-op when its commit marker exists
    resolve(config, step)   one global step's resolve on an engine (once: it commits a marker)
    finalize(...)           stats.json, manifest.json and report.html from the committed ledgers

Every call takes the validated config as JSON and the same arguments on a retry, and each commits what it made,
so a retried or cleared unit resumes instead of redoing what finished.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from corpusforge.core.config import ConfigError
from corpusforge.pipelines.runner import (
    RunResult,
    SegmentTask,
    _check_resume,
    _resolve,
    build_stages,
    finalize_run,
    plan_tasks,
    run_segment_task,
    segments_of,
    task_committed,
)
from corpusforge.pipelines.schema import PipelineConfig, validate_pipeline
from corpusforge.stages.base import GlobalStep


@dataclass(frozen=True)
class Segment:
    """Stages that run per shard back to back; a segment before a global step ends with that step's prepare."""

    index: int
    stages: list[str]
    resolves: str | None  # the global step resolved after this segment, None for the last one

    @property
    def label(self) -> str:
        """First and last stage, for a task name a person can read."""
        return self.stages[0] if len(self.stages) == 1 else f"{self.stages[0]}..{self.stages[-1]}"


@dataclass(frozen=True)
class PipelineShape:
    """What a scheduler needs before any input is listed: the segments, global steps and index builds."""

    name: str
    segments: list[Segment]
    indexes: list[str] = field(default_factory=list)  # stages with a `before_run` (built once, before any shard)

    @property
    def global_steps(self) -> list[str]:
        return [s.resolves for s in self.segments if s.resolves]

    def to_json(self) -> dict[str, Any]:
        return {"segments": [[s.stages, s.resolves] for s in self.segments], "indexes": self.indexes}


@dataclass(frozen=True)
class Shard:
    """One input of the run: its task id (position in the sorted input list) and what it reads."""

    task_id: str
    input: str

    @property
    def label(self) -> str:
        """`<task id> <file name>`: what the Airflow grid shows for the shard's mapped task."""
        return f"{self.task_id} {self.input.rstrip('/').rsplit('/', 1)[-1]}"


def describe(config: PipelineConfig) -> PipelineShape:
    """The pipeline's segments, global steps and index builds (no input is read)."""
    _, stages = build_stages(config)
    segments = []
    bounds = segments_of(stages)
    for i, (start, end) in enumerate(bounds):
        last = stages[end - 1] if end > start else None
        resolves = last.name if i < len(bounds) - 1 and isinstance(last, GlobalStep) else None
        names = [s.name for s in stages[start:end]]
        segments.append(Segment(i, names if i else [config.input.type, *names], resolves))
    indexes = [s.name for s in stages if hasattr(s, "before_run")]
    return PipelineShape(config.name, segments, indexes)


def check_shape(config: PipelineConfig, expected: dict[str, Any]) -> None:
    """Refuse a config whose segments differ from the ones a scheduler built its graph from."""
    found = describe(config).to_json()
    if found != expected:
        raise ConfigError(f"stages: this run's pipeline has segments {found['segments']} and index builds "
                          f"{found['indexes']}, but the DAG was built for {expected['segments']} and "
                          f"{expected['indexes']}; a DAG's global steps are fixed when its file is parsed")


def plan_run(config: PipelineConfig) -> list[Shard]:
    """The run's shards; records the pipeline beside the output (a different pipeline there is refused)."""
    shards = [Shard(tid, path) for tid, path in plan_tasks(config)]
    _check_resume(config)
    return shards


def build_index(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """Run `before_run` of the named stage (once: it stores what it built); returns the config tasks must get."""
    cfg = validate_pipeline(config)
    _, stages = build_stages(cfg)
    match = [s for s in stages if s.name == stage and hasattr(s, "before_run")]
    if not match:
        raise ConfigError(f"stages: no stage named {stage!r} builds an index")
    match[0].before_run(cfg.output)
    # The stage's config object is the pipeline's own, so what before_run recorded (the index path) is in the dump.
    return cfg.model_dump(mode="json")


@dataclass(frozen=True)
class ShardOutcome:
    """What one shard task did: ran the segment, or found it committed by an earlier try or run."""

    task_id: str
    segment: int
    ran: bool
    seconds: float


def run_shard(config: dict[str, Any], segment: int, shard: Shard) -> ShardOutcome:
    """Run one shard through one segment and commit it; a committed shard returns at once."""
    task = SegmentTask(config, segment, shard.task_id, shard.input)
    if task_committed(task):
        return ShardOutcome(shard.task_id, segment, False, 0.0)
    t0 = time.perf_counter()
    run_segment_task(task)
    return ShardOutcome(shard.task_id, segment, True, round(time.perf_counter() - t0, 3))


def resolve(config: dict[str, Any], step: str, shards: list[Shard]) -> None:
    """Resolve the named global step over every shard's prepared files, on the config's engine."""
    from corpusforge.core import storage
    from corpusforge.pipelines.engines.base import make_engine

    cfg = validate_pipeline(config)
    _, stages = build_stages(cfg)
    match = [s for s in stages if s.name == step and isinstance(s, GlobalStep)]
    if not match:
        raise ConfigError(f"stages: no global step named {step!r}")
    e = cfg.engine
    with make_engine(e.type, e.workers, e.address, storage.join(cfg.output, "_work")) as engine:
        _resolve(engine, cfg, match[0], [s.task_id for s in shards])


def finalize(config: dict[str, Any], shards: list[Shard], started: float, engine: str) -> RunResult:
    """stats.json, manifest.json and report.html of a run whose shards have all committed."""
    return finalize_run(validate_pipeline(config), [(s.task_id, s.input) for s in shards], engine, started)
