"""Carry the driver's storage settings to workers that were started before they were set.

Spark's Python workers and Ray's worker processes inherit the environment of the JVM or
raylet, which is fixed when the session starts. A later `CORPUSFORGE_S3_ENDPOINT` or AWS key
(set by a test fixture, or a CLI run reusing a session) would never reach them, so each
task carries the driver's values and sets them before it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

FORWARDED_PREFIXES = ("CORPUSFORGE_", "AWS_")


def driver_env() -> dict[str, str]:
    """The driver's variables that decide where and how storage is reached."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}


def call_with_env(env: dict[str, str], fn: Callable[[Any], Any], item: Any) -> Any:
    """`fn(item)` with the driver's storage variables set in this worker."""
    for k in [k for k in os.environ if k.startswith(FORWARDED_PREFIXES) and k not in env]:
        del os.environ[k]
    os.environ.update(env)
    return fn(item)
