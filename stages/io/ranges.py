"""Splitting large input files into byte ranges, so tasks are bounded, run in parallel and resume per part.

A file is cut at fixed offsets (`task_bytes` apart): the parts are known from the file's size alone, so
planning reads nothing and task ids are stable from one run to the next. Each part then finds its first
record boundary at or after its start (a gzip member that opens a WARC record, the byte after a newline, a
Parquet row group) and reads every record that starts before its end, even one that runs past it: each
record belongs to exactly one part.
"""

from __future__ import annotations

from corpusforge.stages.base import ByteRange

# Hadoop's block size: large enough that per-task overhead is small, small enough that a Common Crawl WARC
# (~1 GB) runs as several tasks and a killed run loses at most one part's work per worker.
DEFAULT_TASK_BYTES = 128 << 20


def fixed_ranges(size: int, task_bytes: int) -> list[ByteRange]:
    """[0, t), [t, 2t), ..., [kt, end of file): one part for a file no larger than `task_bytes`."""
    if size <= task_bytes:
        return [ByteRange()]
    starts = list(range(0, size, task_bytes))
    return [ByteRange(s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)]
