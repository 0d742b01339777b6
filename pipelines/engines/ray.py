"""Ray engine: tasks run inside Ray Data `map_batches` on a real local Ray (or a cluster)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from corpusforge.pipelines.engines.base import Engine
from corpusforge.pipelines.engines.worker_env import call_with_env, driver_env
from corpusforge.pipelines.progress import task_progress

# The machine is shared: a small object store (documents travel as files, not objects) and
# no dashboard, usage reporting or per-operator progress bars.
OBJECT_STORE_BYTES = 256 * 1024**2
_LOCK = threading.Lock()


def ensure_ray(workers: int = 2, address: str | None = None) -> None:
    """Connect to Ray once per process: start a local one unless an address is given."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    with _LOCK:
        if ray.is_initialized():
            return
        common: dict[str, Any] = dict(logging_level=logging.ERROR, log_to_driver=True, ignore_reinit_error=True)
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, **common)
        _quiet_ray_data()


def _quiet_ray_data() -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False


def _run_batch(batch: dict[str, Any], fn_bytes: bytes, env: dict[str, str]) -> dict[str, list]:
    # Functions and items travel as cloudpickle bytes: Arrow blocks hold bytes for any object.
    fn = cloudpickle.loads(fn_bytes)
    results = [cloudpickle.dumps(call_with_env(env, fn, cloudpickle.loads(p))) for p in batch["item"]]
    return {"index": list(batch["index"]), "result": results}


class RayEngine(Engine):
    """Runs each item as one row of a Ray Dataset through `map_batches(batch_size=1)`."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, workdir: str | None = None):
        super().__init__(workers, address, workdir)
        ensure_ray(workers, address)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "tasks") -> list[Any]:
        import ray.data

        items = list(items)
        if not items:
            return []
        rows = [{"index": i, "item": cloudpickle.dumps(x)} for i, x in enumerate(items)]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            # ray's hint for the batch function leaves out the parameters that fn_kwargs supplies
            _run_batch,
            batch_size=1,
            batch_format="numpy",
            zero_copy_batch=True,  # type: ignore[arg-type]
            fn_kwargs={"fn_bytes": cloudpickle.dumps(fn), "env": driver_env()},
        )
        results: dict[int, Any] = {}
        with task_progress(desc, len(items)) as advance:
            for row in ds.iter_rows():
                results[int(row["index"])] = cloudpickle.loads(row["result"])
                advance(len(results))
        if len(results) != len(items):
            raise RuntimeError(f"ray: {len(items) - len(results)} of {len(items)} tasks returned no result")
        return [results[i] for i in range(len(items))]
