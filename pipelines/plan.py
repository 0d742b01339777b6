"""The runner's plan as units an orchestrator schedules one by one (Airflow maps a task over each shard).

`run_pipeline` walks the same plan in one process. Here each step is its own call, so a scheduler can run, retry
and show every unit separately:

    describe(config)        the shape, known from the YAML alone: segments, the global step each one ends with,
                            and the stages that build an index before any task runs (decontamination)
    plan_run(config)        the shards (one per input file, or byte range of a large one), recorded beside the output
    prepare_stage(config, s) stage s's `before_run` (the decontamination index, an LLM stage's request cache);
                            returns the config the tasks get
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

from corpusforge.core import storage
from corpusforge.core.config import ConfigError
from corpusforge.core.lease import Lease
from corpusforge.pipelines.runner import (
    InputTask,
    RunResult,
    SegmentTask,
    _check_resume,
    _resolve,
    build_stages,
    check_input_paths,
    finalize_run,
    plan_tasks,
    run_segment_task,
    segments_of,
    task_committed,
)
from corpusforge.pipelines.schema import PipelineConfig, validate_pipeline
from corpusforge.stages.base import ByteRange, GlobalStep


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
    """What a scheduler needs before any input is listed: the segments, global steps and stage preparations."""

    name: str
    segments: list[Segment]
    prepares: list[str] = field(default_factory=list)  # stages with a `before_run` (once, before any shard)

    @property
    def global_steps(self) -> list[str]:
        return [s.resolves for s in self.segments if s.resolves]

    def to_json(self) -> dict[str, Any]:
        return {"segments": [[s.stages, s.resolves] for s in self.segments], "prepares": self.prepares}


@dataclass(frozen=True)
class Shard:
    """One unit of input: its task id (position in the sorted input list) and the file (or byte range) it reads."""

    task_id: str
    input: str
    start: int = 0
    end: int | None = None  # a byte range of a large file; None with start 0: the whole file

    @property
    def part(self) -> ByteRange:
        return ByteRange(self.start, self.end)

    @property
    def label(self) -> str:
        """`<task id> <file name>` (and the byte range of a split file): what the Airflow grid shows."""
        name = self.input.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.task_id} {name}" if self.part.whole else f"{self.task_id} {name} [{self.start}:{self.end or ''}]"

    @classmethod
    def of(cls, task: InputTask) -> Shard:
        return cls(task.task_id, task.path, task.part.start, task.part.end)

    def input_task(self) -> InputTask:
        return InputTask(self.task_id, self.input, self.part)


def describe(config: PipelineConfig) -> PipelineShape:
    """The pipeline's segments, global steps and stage preparations (no input is read)."""
    _, stages = build_stages(config)
    segments = []
    bounds = segments_of(stages)
    for i, (start, end) in enumerate(bounds):
        last = stages[end - 1] if end > start else None
        resolves = last.name if i < len(bounds) - 1 and isinstance(last, GlobalStep) else None
        names = [s.name for s in stages[start:end]]
        segments.append(Segment(i, names if i else [config.input.type, *names], resolves))
    prepares = [s.name for s in stages if hasattr(s, "before_run")]
    return PipelineShape(config.name, segments, prepares)


def check_shape(config: PipelineConfig, expected: dict[str, Any]) -> None:
    """Refuse a config whose segments differ from the ones a scheduler built its graph from."""
    found = describe(config).to_json()
    if found != expected:
        raise ConfigError(
            f"stages: this run's pipeline has segments {found['segments']} and stage preparations "
            f"{found['prepares']}, but the DAG was built for {expected['segments']} and "
            f"{expected['prepares']}; a DAG's global steps are fixed when its file is parsed"
        )


def plan_run(config: PipelineConfig) -> list[Shard]:
    """The run's shards, after checking every path the config names; records the pipeline beside the output.

    A different pipeline recorded there is refused, and so is an output another run holds the lease of (a
    `corpusforge run` writing it): the plan takes the lease while it checks and sweeps a killed run's temporaries.
    """
    check_input_paths(config)
    shards = [Shard.of(t) for t in plan_tasks(config)]
    with Lease(config.output, what=f"airflow plan of pipeline {config.name}"):
        _check_resume(config)
        storage.sweep_temps(config.output)
    return shards


def prepare_stage(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """Run `before_run` of the named stage (an index is built once and stored); returns the config tasks must get."""
    cfg = validate_pipeline(config)
    _, stages = build_stages(cfg)
    match = [s for s in stages if s.name == stage and hasattr(s, "before_run")]
    if not match:
        raise ConfigError(f"stages: no stage named {stage!r} has a `before_run`")
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
    task = SegmentTask(config, segment, shard.task_id, shard.input, shard.part)
    if task_committed(task):
        return ShardOutcome(shard.task_id, segment, False, 0.0)
    t0 = time.perf_counter()
    run_segment_task(task)
    return ShardOutcome(shard.task_id, segment, True, round(time.perf_counter() - t0, 3))


def resolve(config: dict[str, Any], step: str, shards: list[Shard]) -> None:
    """Resolve the named global step over every shard's prepared files, on the config's engine."""
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
    return finalize_run(validate_pipeline(config), [s.input_task() for s in shards], engine, started)
