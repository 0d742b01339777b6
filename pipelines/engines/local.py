"""The embedded default: datatrove's LocalPipelineExecutor running our tasks on N processes."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import datatrove.executor.base as _dt_executor_base
import datatrove.utils.logging as _dt_logging
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from corpusforge.pipelines.engines.base import Engine
from corpusforge.pipelines.engines.worker_env import call_with_env, driver_env
from corpusforge.pipelines.progress import task_progress

# Scratch folders are named by the driver's pid, so a later run can tell a killed driver's folder from a live one.
SCRATCH_PREFIX = "corpusforge-local-"


class _CallEach(PipelineStep):
    """A datatrove step that runs `fn(items[rank])` and keeps the result for the driver."""

    name = "corpusforge task"
    type = "🔧 - TASK"

    def __init__(self, fn: Callable[[Any], Any], items: Sequence[Any], results_dir: str):
        super().__init__()
        self.fn, self.items, self.results_dir = fn, list(items), results_dir
        # datatrove's forkserver keeps the environment of its first start; carry today's.
        self.env = driver_env()

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        try:
            result = call_with_env(self.env, self.fn, self.items[rank])
        except Exception as e:  # handed to the driver, which raises it as one error
            result = _TaskFailed(e, "".join(traceback.format_exception(e)))
        tmp = os.path.join(self.results_dir, f"{rank}.pkl.tmp")
        with open(tmp, "wb") as f:
            try:
                pickle.dump(result, f)
            except Exception:  # an exception that does not pickle travels as its text
                f.seek(0)
                f.truncate()
                pickle.dump(_TaskFailed(RuntimeError(str(result.error)), result.traceback), f)
        os.replace(tmp, os.path.join(self.results_dir, f"{rank}.pkl"))
        return None


class _TaskFailed:
    """A task's exception and its traceback, carried from the worker to the driver."""

    def __init__(self, error: BaseException, traceback_text: str):
        self.error, self.traceback = error, traceback_text

    def raise_on_driver(self) -> None:
        self.error.add_note(f"in a worker process:\n{self.traceback}")
        raise self.error


class LocalEngine(Engine):
    """Runs tasks on local processes through datatrove's executor (one task per rank)."""

    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "tasks") -> list[Any]:
        if not items:
            return []
        if min(self.workers, len(items)) == 1:
            # datatrove runs a one-worker executor in this process too, but first starts a
            # multiprocess Manager (~0.2 s a call, and global steps make many short calls).
            return self._map_inline(fn, items, desc)
        _remove_dead_scratch()
        _short_socket_dir()
        scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        results_dir = os.path.join(scratch, "results")
        os.makedirs(results_dir)
        try:
            executor = LocalPipelineExecutor(
                pipeline=[_CallEach(fn, items, results_dir)],
                tasks=len(items),
                workers=min(self.workers, len(items)),
                logging_dir=os.path.join(scratch, "logs"),
                skip_completed=False,  # our own commit markers decide what is done
            )
            self._run_with_progress(executor, results_dir, len(items), desc)
            return [self._load(results_dir, i) for i in range(len(items))]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _map_inline(fn: Callable[[Any], Any], items: Sequence[Any], desc: str) -> list[Any]:
        results = []
        with task_progress(desc, len(items)) as advance:
            for item in items:
                results.append(fn(item))
                advance(len(results))
        return results

    @staticmethod
    def _run_with_progress(executor, results_dir: str, total: int, desc: str) -> None:
        done = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            _quiet_datatrove()
            try:
                executor.run()
            except BaseException as e:
                errors.append(e)
            finally:
                done.set()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        with task_progress(desc, total) as advance:
            while not done.wait(0.25):
                advance(_count_results(results_dir))
            advance(_count_results(results_dir))
        thread.join()
        if errors:
            raise errors[0]

    @staticmethod
    def _load(results_dir: str, rank: int) -> Any:
        path = os.path.join(results_dir, f"{rank}.pkl")
        if not os.path.exists(path):
            raise RuntimeError(f"task {rank} failed; see the worker log above")
        with open(path, "rb") as f:
            result = pickle.load(f)
        if isinstance(result, _TaskFailed):
            result.raise_on_driver()
        return result


def _quiet_datatrove() -> None:
    # datatrove logs every task's start, end and stats at INFO; our progress bar and ledger
    # say the same, so only its warnings and errors reach the terminal.
    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def _task_logger(logging_dir, rank, local_rank=0, node_rank=-1):
    # datatrove sends a task's INFO lines to stderr only for local_rank 0; the task log file
    # keeps everything either way.
    return _dt_logging.add_task_logger(logging_dir, rank, local_rank=1, node_rank=node_rank)


_dt_executor_base.add_task_logger = _task_logger
_dt_logging.setup_default_logger = _quiet_datatrove


# The unix socket path multiprocess's manager and forkserver bind: <temp dir>/pymp-XXXXXXXX/listener-XXXXXXXX.
_SOCKET_SUFFIX = len("/pymp-XXXXXXXX/listener-XXXXXXXX")
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the terminating NUL included


def _short_socket_dir() -> None:
    """Give multiprocess a short folder for its sockets when the temp dir's path is too long for one.

    A long TMPDIR (an HPC job's scratch, a test runner's per-test folder) makes every parallel map fail at
    start with "AF_UNIX path too long". multiprocess keeps its socket folder in the process's config
    (`util.get_temp_dir`); set before its first use, a private folder under a short root serves instead.
    """
    from multiprocess import process, util

    config = process.current_process()._config
    if config.get("tempdir") or len(tempfile.gettempdir().encode()) + _SOCKET_SUFFIX <= _SUN_PATH_MAX:
        return
    for root in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(root) and os.access(root, os.W_OK | os.X_OK):
            short = tempfile.mkdtemp(prefix="pymp-", dir=root)
            util.Finalize(None, shutil.rmtree, args=(short, True), exitpriority=-100)
            config["tempdir"] = short
            return


def _remove_dead_scratch() -> None:
    """Delete scratch folders of driver processes that died without cleaning up (killed runs)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(SCRATCH_PREFIX):
            continue
        pid = name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _count_results(results_dir: str) -> int:
    return sum(1 for n in os.listdir(results_dir) if n.endswith(".pkl"))
