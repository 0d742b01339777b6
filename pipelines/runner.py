"""Runs a pipeline config on an engine: tasks per input file (or byte range of one), segments split at global steps.

Stages [s1, s2, G, s3] with global step G run as two segments:
  segment 0 (per task): read input -> s1 -> s2 -> G.prepare -> _work/seg0/<task>.parquet
  G.resolve (once, on the engine)
  segment 1 (per task): _work/seg0/<task>.parquet -> G.apply -> s3 -> data/<task>.parquet
Each task writes its documents under a temporary name, commits by rename, then commits its
ledger as its marker (`core.markers`: `_work/seg<N>/<task>.done.json`), so a killed run resumes
where it stopped and a rerun is a no-op. A resolved global step commits `_work/global/<step>`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from corpusforge.core import markers, storage
from corpusforge.core.config import ConfigError
from corpusforge.core.lease import Lease
from corpusforge.pipelines.schema import PipelineConfig, validate_pipeline
from corpusforge.core.document import Document
from corpusforge.core.stats import StageStats, merge_ledgers
from corpusforge.core.writer import DocumentWriter
from corpusforge.pipelines.engines.base import Engine, make_engine
from corpusforge.stages.base import ByteRange, GlobalStep, Reader, Stage
from corpusforge.pipelines.registry import stage_class

log = logging.getLogger(__name__)

@dataclass
class RunResult:
    output: str
    data_dir: str
    stats_path: str
    manifest_path: str
    report_path: str
    stages: list[StageStats]


@dataclass(frozen=True)
class InputTask:
    """One input file, or one byte range of a large one: the unit every segment's task works on."""

    task_id: str
    path: str
    part: ByteRange = ByteRange()


@dataclass(frozen=True)
class SegmentTask:
    """One unit of work: one input shard through one segment of the stage chain."""

    config: dict[str, Any]
    segment: int
    task_id: str
    input_path: str
    part: ByteRange = ByteRange()

    @property
    def output(self) -> str:
        return self.config["output"]


def build_stages(config: PipelineConfig) -> tuple[Reader, list[Stage]]:
    """Instantiate the reader and stages of a validated config."""
    reader = stage_class(config.input.type)(config.input)
    stages = [stage_class(c.type)(_with_engine_defaults(c, config)) for c in config.stages]
    return reader, stages


def _with_engine_defaults(stage_config, config: PipelineConfig):
    # Global steps leave their shuffle width unset so one engine setting sizes them all.
    if getattr(stage_config, "buckets", 0) is None:
        return stage_config.model_copy(update={"buckets": config.engine.shuffle_buckets})
    return stage_config


def check_input_paths(config: PipelineConfig) -> None:
    """Every file, folder or glob the reader and the stages declare must exist; ConfigError names each field.

    Runs before anything is written, so a wrong path costs nothing (and the corrected config may take over).
    """
    problems = []
    named = [("input", config.input)] + [(f"stages[{i}]", c) for i, c in enumerate(config.stages)]
    for where, stage in named:
        for field, paths in stage.input_paths().items():
            for path in paths:
                if any(c in path for c in "*?["):
                    if not storage.expand([path]):
                        problems.append(f"{where} ({stage.type}).{field}: no file matches {path}")
                elif not storage.exists(path):
                    problems.append(f"{where} ({stage.type}).{field}: {path} does not exist")
    if problems:
        raise ConfigError("; ".join(problems))


def _check_resume(config: PipelineConfig) -> None:
    """Refuse to resume into an output left by a different pipeline: its finished tasks would be reused.

    An earlier attempt that committed no task (it failed at once, e.g. on a path fixed since) is replaced.
    """
    work = config.model_dump(mode="json", exclude={"engine", "progress"})
    digest = hashlib.sha256(json.dumps(work, sort_keys=True).encode()).hexdigest()[:16]
    marker = storage.join(config.output, "_work", "pipeline.json")
    if storage.exists(marker):
        previous = json.loads(storage.read_text(marker))
        if previous["digest"] == digest:
            return
        if _committed_units(config.output):
            raise ConfigError(
                f"output: {config.output} holds a run of a different pipeline (config digest {previous['digest']}, "
                f"now {digest}); finished tasks would be reused. Choose another `output` or delete that one.")
        log.info("output %s: replacing the config of an earlier attempt that committed no task", config.output)
    storage.write_text(marker, json.dumps({"digest": digest, "config": work}, indent=2))


def _committed_units(output: str) -> list[str]:
    """Markers of tasks and global steps an earlier attempt committed under `output`."""
    work = storage.join(output, "_work")
    return storage.expand([storage.join(work, "seg*", "*" + markers.SUFFIX),
                           storage.join(work, "global", "*" + markers.SUFFIX)])


def segments_of(stages: list[Stage]) -> list[tuple[int, int]]:
    """Split stage indices into [start, end) segments; each global step ends one (inclusive)."""
    bounds, start = [], 0
    for i, s in enumerate(stages):
        if isinstance(s, GlobalStep):
            bounds.append((start, i + 1))
            start = i  # the next segment starts with the global step's apply
    bounds.append((start, len(stages)))
    return bounds


def _paths(output: str, segment: int, task_id: str, last: bool) -> tuple[str, str]:
    """The task's documents and its unit (the marker's payload is its ledger)."""
    data = storage.join(output, "data", f"{task_id}.parquet") if last else \
        storage.join(output, "_work", f"seg{segment}", f"{task_id}.parquet")
    unit = storage.join(output, "_work", f"seg{segment}", task_id)
    return data, unit


def _global_unit(output: str, step: GlobalStep) -> str:
    return storage.join(output, "_work", "global", step.name)


def run_segment_task(task: SegmentTask) -> str:
    """Run one task of one segment and commit its output; returns the task's unit."""
    config = validate_pipeline(task.config)
    reader, stages = build_stages(config)
    bounds = segments_of(stages)
    start, end = bounds[task.segment]
    last = task.segment == len(bounds) - 1
    data_path, unit = _paths(task.output, task.segment, task.task_id, last)
    if markers.is_committed(unit):
        return unit
    storage.remove_stale_temps(data_path)
    workdir = storage.join(task.output, "_work", "global")
    if task.segment == 0:
        docs: Iterable[Document] = reader.read_counted(task.input_path, task.part)
        ledger = [reader.ledger]
    else:
        prev, _ = _paths(task.output, task.segment - 1, task.task_id, False)
        docs = storage.read_documents(prev)
        ledger = []
    for i in range(start, end):
        stage = stages[i]
        if isinstance(stage, GlobalStep):
            stage.bind(storage.join(workdir, stage.name), task.task_id)
            if i == end - 1 and not last and not (task.segment > 0 and i == start):
                docs = stage.prepare(docs)
                continue
        docs = stage.run(docs)
        ledger.append(stage.ledger)
    with DocumentWriter(data_path) as writer:
        writer.write_all(docs)
    markers.commit(unit, [s.to_dict() for s in ledger])
    return unit


def _run_segment(engine: Engine, config: PipelineConfig, segment: int, tasks: list[InputTask],
                 n_segments: int) -> None:
    raw = config.model_dump(mode="json")
    last = segment == n_segments - 1
    pending = [SegmentTask(raw, segment, t.task_id, t.path, t.part) for t in tasks
               if not markers.is_committed(_paths(config.output, segment, t.task_id, last)[1])]
    if pending:
        engine.map(run_segment_task, pending, desc=f"{config.name}: segment {segment + 1}/{n_segments}")


def _resolve(engine: Engine, config: PipelineConfig, step: GlobalStep, task_ids: list[str]) -> None:
    unit = _global_unit(config.output, step)

    def resolve() -> dict:
        step.bind(unit)
        t0 = time.perf_counter()
        extra = step.resolve(engine, task_ids) or {}
        extra["resolve_seconds"] = round(time.perf_counter() - t0, 3)
        return extra

    markers.once(unit, resolve)


def _load_ledgers(config: PipelineConfig, n_segments: int, task_ids: list[str],
                  globals_: list[GlobalStep]) -> list[StageStats]:
    per_task = []
    for tid in task_ids:
        ledger = []
        for seg in range(n_segments):
            unit = _paths(config.output, seg, tid, seg == n_segments - 1)[1]
            ledger.extend(StageStats.from_dict(d) for d in markers.committed(unit) or [])
        per_task.append(ledger)
    merged = merge_ledgers(per_task)
    by_name = {s.name: s for s in merged}
    for step in globals_:
        extra = markers.committed(_global_unit(config.output, step))
        if step.name in by_name and extra is not None:
            by_name[step.name].extra.update(extra)
    return merged


def plan_tasks(config: PipelineConfig) -> list[InputTask]:
    """One task per input file, or per byte range of a file the reader splits (`task_bytes`).

    Ids are positions in the sorted input list (`00003`), with the part's number for a split file
    (`00003-00001`): they depend only on the inputs, their sizes and the settings, so a resumed run
    finds the same tasks.
    """
    patterns = getattr(config.input, "paths", None)
    if not patterns:
        raise ConfigError("input.paths: no input given")
    inputs = stage_class(config.input.type).expand_inputs(list(patterns))
    if not inputs:
        raise ConfigError(f"input.paths: {list(patterns)} matched no files")
    reader = stage_class(config.input.type)(config.input)
    splits = type(reader).ranges is not Reader.ranges
    tasks = []
    for i, path in enumerate(inputs):
        parts = reader.ranges(path, storage.size(path)) if splits else [ByteRange()]
        if len(parts) == 1:
            tasks.append(InputTask(f"{i:05d}", path, parts[0]))
        else:
            tasks += [InputTask(f"{i:05d}-{k:05d}", path, part) for k, part in enumerate(parts)]
    return tasks


def run_pipeline(config: PipelineConfig, engine: Engine | None = None) -> RunResult:
    """Run (or resume) a pipeline and write data, stats.json, manifest.json and report.html.

    The run holds a lease on its output (`core.lease`): a second run on the same output is refused.
    """
    started = time.time()
    check_input_paths(config)
    tasks = plan_tasks(config)
    with Lease(config.output, what=f"pipeline {config.name}") as lease:
        return _run_leased(config, engine, tasks, started, lease)


def _run_leased(config: PipelineConfig, engine: Engine | None, tasks: list[InputTask], started: float,
                lease: Lease) -> RunResult:
    from corpusforge.core.manifest import write_manifest
    from corpusforge.core.report import write_run_report

    _check_resume(config)
    # This run holds the output: temporaries there are a killed run's, never committed data.
    storage.sweep_temps(config.output)
    _, stages = build_stages(config)
    for stage in stages:
        if hasattr(stage, "before_run"):
            stage.before_run(config.output)
    bounds = segments_of(stages)
    own_engine = engine is None
    engine = engine or make_engine(config.engine.type, config.engine.workers, config.engine.address,
                                   storage.join(config.output, "_work"))
    try:
        for seg, (start, end) in enumerate(bounds):
            lease.check()
            _run_segment(engine, config, seg, tasks, len(bounds))
            step = stages[end - 1] if end > start else None
            if seg < len(bounds) - 1 and isinstance(step, GlobalStep):
                lease.check()
                _resolve(engine, config, step, [t.task_id for t in tasks])
    finally:
        if own_engine:
            engine.close()
    lease.check()
    globals_ = [s for s in stages if isinstance(s, GlobalStep)]
    ledger = _load_ledgers(config, len(bounds), [t.task_id for t in tasks], globals_)
    # Figures that do not add across tasks (latency percentiles) come from the merged ledger.
    by_name = {s.name: s for s in stages}
    for s in ledger:
        finalize = getattr(by_name.get(s.name), "finalize_extra", None)
        if finalize is not None:
            s.extra.update(finalize(s.extra))
    stats_path = storage.join(config.output, "stats.json")
    stats = {
        "pipeline": config.name,
        "engine": engine.name,
        "tasks": len(tasks),
        "wall_seconds": round(time.time() - started, 3),
        "balanced": all(s.balanced for s in ledger),
        "stages": [s.to_dict() for s in ledger],
    }
    storage.write_text(stats_path, json.dumps(stats, indent=2))
    data_dir = storage.join(config.output, "data")
    manifest_path = write_manifest(config, list(dict.fromkeys(t.path for t in tasks)), data_dir, started)
    report_path = write_run_report(config.output, stats)
    return RunResult(config.output, data_dir, stats_path, manifest_path, report_path, ledger)


def iter_output(output: str) -> Iterator[Document]:
    """Stream every document a finished run wrote, in task order."""
    for path in storage.expand([storage.join(output, "data", "*.parquet")]):
        yield from storage.read_documents(path)
